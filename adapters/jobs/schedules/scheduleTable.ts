import { table } from '../../cli/format.js';

/** What the schedule table needs of a status row (a projection row or a query.list item). */
export interface ScheduleRow {
  readonly id: string;
  readonly state: string;
  readonly summary: Record<string, unknown>;
}

const cut = (value: string, max: number): string => (value.length > max ? `${value.slice(0, max - 1)}…` : value);

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/**
 * `2026-11-22 01:00` in the schedule's own zone: the zone its cron expression is read in, so
 * the times line up with the expression. An unusable zone falls back to ISO 8601.
 */
export const localTime = (iso: string | undefined, timeZone: string | undefined): string => {
  if (iso === undefined) return '-';
  try {
    // sv-SE formats as YYYY-MM-DD hh:mm.
    return new Intl.DateTimeFormat('sv-SE', { timeZone, dateStyle: 'short', timeStyle: 'short' }).format(new Date(iso));
  } catch {
    return iso;
  }
};

/** One line per schedule: (id,) name, cron, zone, next and last fire (in its zone), state. */
export const scheduleTable = (rows: readonly ScheduleRow[], options: { withId?: boolean } = {}): string => {
  const headers = [...(options.withId ? ['ID'] : []), 'NAME', 'CRON', 'ZONE', 'NEXT FIRE', 'LAST FIRE', 'STATE'];
  return table(
    headers,
    rows.map((row) => {
      const s = row.summary;
      const zone = text(s.timeZone);
      const state = [
        row.state,
        typeof s.fires === 'number' ? `${s.fires} fired` : undefined,
        typeof s.skipped === 'number' && s.skipped > 0 ? `${s.skipped} skipped` : undefined,
        text(s.lastError) ? `last failed: ${cut(text(s.lastError) ?? '', 80)}` : undefined,
      ]
        .filter((part) => part !== undefined)
        .join(', ');
      return [
        ...(options.withId ? [row.id] : []),
        text(s.name) ?? '-',
        text(s.cron) ?? '-',
        zone ?? '-',
        localTime(text(s.nextFireAt), zone),
        localTime(text(s.lastFireAt), zone),
        state,
      ];
    }),
  );
};
