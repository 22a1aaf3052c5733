import { Cron } from 'croner';

// Croner starts timers only when given a callback, and reads the clock only when nextRun() is
// given no date: with `paused` and an explicit date it is a pure function of its inputs, which
// is what lets machines (and replays) compute fire times.
const cronOf = (cron: string, timeZone: string): Cron => new Cron(cron, { timezone: timeZone, paused: true });

/** Offset of `timeZone` from UTC at instant `ms`, in ms (CEST: 7,200,000). */
const offsetAt = (ms: number, timeZone: string): number => {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    })
      .formatToParts(new Date(ms))
      .map((p) => [p.type, Number(p.value)]),
  ) as Record<string, number>;
  const wall = Date.UTC(parts.year ?? 0, (parts.month ?? 1) - 1, parts.day ?? 1, parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0);
  return wall - (ms - (((ms % 1_000) + 1_000) % 1_000));
};

/**
 * The first fire time of `cron` in `timeZone` strictly after `after` (ISO 8601), or null when
 * there is none. Asked from inside the hour that a DST change repeats, croner (10.0) maps the
 * next wall-clock time to its first pass, which is before `after`: a schedule armed with it
 * would fire at once and arm the same time again. The second pass of that wall-clock time is
 * the answer then. (A wall-clock time that a change skips fires at the shifted time: croner's.)
 */
export const nextFireTime = (cron: string, timeZone: string, after: string): string | null => {
  const schedule = cronOf(cron, timeZone);
  const floor = Date.parse(after);
  let from = floor;
  for (let attempt = 0; attempt < 4; attempt++) {
    const next = schedule.nextRun(new Date(from));
    if (next === null) return null;
    if (next.getTime() > floor) return next.toISOString();
    const secondPass = next.getTime() + offsetAt(next.getTime(), timeZone) - offsetAt(floor, timeZone);
    if (secondPass > floor) return new Date(secondPass).toISOString();
    from += 3_600_000;
  }
  return null;
};

const CRON_HELP =
  'five fields "minute hour day-of-month month day-of-week" (e.g. "0 1 * * *", daily at 01:00), ' +
  'six with seconds first, or @hourly, @daily, @weekly, @monthly, @yearly';

/** Why `cron` is not a usable cron expression, or undefined when it is. */
export const cronProblem = (cron: string): string | undefined => {
  let parsed: Cron;
  try {
    parsed = cronOf(cron, 'UTC');
  } catch (e) {
    return `${e instanceof Error ? e.message.replace(/^CronPattern: /, '') : String(e)}; expected ${CRON_HELP}`;
  }
  // Croner reads a string with a colon as a one-off date; a schedule repeats.
  if (parsed.getPattern() === undefined) return `a date is not a cron expression; expected ${CRON_HELP}`;
  // An expression that matches no date (31 February) would leave the schedule without a deadline.
  if (parsed.nextRun(new Date(0)) === null) return 'the expression matches no date';
  return undefined;
};

/** Why `timeZone` is not an IANA time zone this runtime knows, or undefined when it is. */
export const timeZoneProblem = (timeZone: string): string | undefined => {
  try {
    new Intl.DateTimeFormat('en', { timeZone });
  } catch {
    return `unknown time zone ${JSON.stringify(timeZone)}: use an IANA name such as UTC or Europe/Zurich`;
  }
  return undefined;
};
