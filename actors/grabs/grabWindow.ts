import { TZDate } from '@date-fns/tz';
import { z } from 'zod';
import { ValidationError } from '../../events/errors.js';

/**
 * The window of a grab, with the semantics of GMPS-AI's ParamDataGrabber.py (docs/grabs.md): it ends at `stopAt`
 * (default: the last midnight before the reference time, in the facility's time zone) and
 * reaches back `days + hours + minutes + seconds` (all zero: one second). `startAt` instead of
 * a duration gives the start directly. Times without an offset (`2026-11-21 00:00:00`, that script's
 * form) are in the time zone; ISO 8601 times with `Z` or an offset are taken as they are.
 *
 * Pure: the reference time and the zone are arguments (the API passes the clock and the
 * configured zone; a schedule passes its fire time, so that a caught-up fire grabs the window it
 * would have grabbed on time).
 */

/** Longest window a grab may ask for: a year and a day. Longer is nearly always a typo. */
export const MAX_WINDOW_DAYS = 366;

const duration = z.number().min(0, 'must not be negative').max(1e9);

export const grabWindowInputSchema = z.strictObject({
  days: duration.optional(),
  hours: duration.optional(),
  minutes: duration.optional(),
  seconds: duration.optional(),
});

/** The time fields of a grab request. */
export interface GrabWindowRequest {
  readonly stopAt?: string | undefined;
  readonly startAt?: string | undefined;
  readonly window?: z.infer<typeof grabWindowInputSchema> | undefined;
}

const localTime = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/;
const localDate = /^(\d{4})-(\d{2})-(\d{2})$/;
const withOffset = /(?:Z|[+-]\d{2}:?\d{2})$/i;

const refuse = (field: string, message: string): never => {
  throw new ValidationError(`${field}: ${message}`, [{ path: [field], message }]);
};

/** Checks a time zone name against the runtime's time-zone data. */
export const isTimeZone = (timeZone: string): boolean => {
  try {
    new Intl.DateTimeFormat('en', { timeZone });
    return true;
  } catch {
    return false;
  }
};

/** Parses `2026-11-21 00:00:00` (in `timeZone`), `2026-11-21` (its midnight), or ISO 8601 with an offset. */
export const parseFacilityTime = (text: string, timeZone: string, field = 'time'): Date => {
  const trimmed = text.trim();
  if (withOffset.test(trimmed)) {
    const parsed = new Date(trimmed);
    if (Number.isNaN(parsed.getTime())) refuse(field, `${JSON.stringify(text)} is not a valid time`);
    return parsed;
  }
  const m = localTime.exec(trimmed) ?? localDate.exec(trimmed);
  if (!m) {
    return refuse(field, `${JSON.stringify(text)} is not a time: use YYYY-MM-DD hh:mm:ss (${timeZone}) or ISO 8601 with an offset`);
  }
  // The fraction is of a second: ".5" is 500 ms.
  const [year, month, day, hour, minute, second, ms] = m
    .slice(1)
    .map((part, i) => (i === 6 ? Number((part ?? '0').padEnd(3, '0')) : Number(part ?? 0)));
  const fields = [year ?? 0, (month ?? 1) - 1, day ?? 1, hour ?? 0, minute ?? 0, second ?? 0, ms ?? 0] as const;
  const at = new TZDate(...fields, timeZone);
  // Date rolls 2026-02-30 over to March: refuse a day or hour that does not exist as written.
  if (Number.isNaN(at.getTime()) || at.getMonth() !== fields[1] || at.getDate() !== fields[2]) {
    refuse(field, `${JSON.stringify(text)} is not a valid date`);
  }
  if (at.getHours() !== fields[3] || at.getMinutes() !== fields[4]) {
    refuse(field, `${JSON.stringify(text)} does not exist in ${timeZone} (the clocks skip it for daylight saving time)`);
  }
  return new Date(at.getTime());
};

/** The last midnight at or before `reference` in `timeZone`. */
export const lastMidnight = (reference: Date, timeZone: string): Date => {
  const local = new TZDate(reference.getTime(), timeZone);
  return new Date(new TZDate(local.getFullYear(), local.getMonth(), local.getDate(), 0, 0, 0, 0, timeZone).getTime());
};

/** Resolves a grab request's window. Throws `ValidationError` (400) for anything that is not a window. */
export const resolveGrabWindow = (
  request: GrabWindowRequest,
  options: { reference: Date; timeZone: string },
): { start: Date; stop: Date } => {
  if (!isTimeZone(options.timeZone)) refuse('timeZone', `unknown time zone ${JSON.stringify(options.timeZone)}`);
  // "now": the reference time itself; a schedule's fire time, for windows that end when it fires.
  const stop =
    request.stopAt === undefined
      ? lastMidnight(options.reference, options.timeZone)
      : request.stopAt.trim().toLowerCase() === 'now'
        ? new Date(options.reference.getTime())
        : parseFacilityTime(request.stopAt, options.timeZone, 'stopAt');
  let start: Date;
  if (request.startAt !== undefined) {
    if (request.window !== undefined && Object.values(request.window).some((v) => v !== undefined && v !== 0)) {
      refuse('startAt', 'give either startAt or a window length, not both');
    }
    start = parseFacilityTime(request.startAt, options.timeZone, 'startAt');
  } else {
    const w = request.window ?? {};
    const days = w.days ?? 0;
    const seconds = (days % 1) * 86_400 + (w.hours ?? 0) * 3_600 + (w.minutes ?? 0) * 60 + (w.seconds ?? 0);
    // Whole days are calendar days in the zone, as that script's timedelta on local times: nightly
    // windows that stop at local midnight then tile across a DST change (a 23 or 25 hour day)
    // instead of leaving an hour out or grabbing one twice.
    const local = new TZDate(stop.getTime(), options.timeZone);
    local.setDate(local.getDate() - Math.trunc(days));
    const dayStart = local.getTime();
    start = new Date(dayStart - (days === 0 && seconds === 0 ? 1 : seconds) * 1000);
  }
  if (start.getTime() >= stop.getTime()) {
    refuse(
      request.startAt !== undefined ? 'startAt' : 'window',
      `the window is inverted or empty: it starts ${start.toISOString()} and stops ${stop.toISOString()}`,
    );
  }
  const days = (stop.getTime() - start.getTime()) / 86_400_000;
  if (days > MAX_WINDOW_DAYS) {
    refuse(
      'window',
      `the window is ${days.toFixed(1)} days long (${start.toISOString()} to ${stop.toISOString()}); at most ${MAX_WINDOW_DAYS} days: split longer grabs`,
    );
  }
  if (start.getUTCFullYear() < 1970 || stop.getUTCFullYear() > 9999) refuse('window', 'the window must lie between 1970 and 9999');
  return { start, stop };
};
