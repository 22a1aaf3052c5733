import type { ColumnType, Insertable, Selectable } from 'kysely';
import { z } from 'zod';
import { grabRunEventSchemas } from '../actors/grabs/grabRun.events.js';
import type { RecordedEvent } from '../events/index.js';
import { inStatementChunks, type Projection } from './projection.js';

type Timestamp = ColumnType<Date, Date | string, Date | string>;

/**
 * One row per grab run and parameter: the run's statistics of that parameter, from the run's
 * `fileWritten` event. Float columns are null where the statistic is undefined (no finite
 * sample, std of fewer than two). first_time/last_time are UTC seconds, exactly as in the event.
 */
export interface GrabStatisticsTable {
  /** The grab run (actor id). */
  run_id: string;
  parameter: string;
  units: string | null;
  /** The run's requested window. */
  window_start: Timestamp;
  window_stop: Timestamp;
  /** The HDF5 file the run wrote. */
  output_file: string;
  count: number;
  nan_count: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  std: number | null;
  mode: number | null;
  first_time: number | null;
  last_time: number | null;
  /** The same statistics over the sample-to-sample intervals, in seconds. */
  interval_count: number;
  interval_nan_count: number;
  interval_min: number | null;
  interval_max: number | null;
  interval_mean: number | null;
  interval_std: number | null;
  interval_mode: number | null;
  /** Time of the fileWritten event. */
  recorded_at: Timestamp;
  /** Stream position of the fileWritten event; a newer event for the run wins. */
  position: number;
}

export type GrabStatisticsRow = Selectable<GrabStatisticsTable>;
export type NewGrabStatisticsRow = Insertable<GrabStatisticsTable>;

/** Actor kind of grab runs. */
export const GRAB_KIND = 'grab';
/** The grab-run event whose data carries the run's statistics per parameter. */
export const FILE_WRITTEN = 'fileWritten';

// fileWritten as the grab kind's event schema has it (projections may read a kind's event
// schemas, never its machine), read leniently: plain objects, so fields added by a later schema
// version are ignored rather than refused, and entries one by one below, so one bad entry does
// not cost the others.
const fileWritten = grabRunEventSchemas.fileWritten.schema;
const fileWrittenSchema = fileWritten.pick({ path: true, windowStart: true, windowStop: true }).extend({
  statistics: z.array(z.unknown()),
});
const parameterSchema = fileWritten.shape.statistics.element.extend({ parameter: z.string().min(1) });

/**
 * The rows one fileWritten event gives. Data that does not read as fileWritten gives no rows
 * (the whole event, or just the entry that is malformed): like the other projections, this one
 * never refuses an event, since a throwing apply would stop every projection at that position.
 * Stored events were validated against the actor's schema when appended, so this only happens
 * if that schema changes incompatibly; fix the reading here, then `daqflow replay projections`.
 */
export const statisticsRowsOf = (event: RecordedEvent): NewGrabStatisticsRow[] => {
  const parsed = fileWrittenSchema.safeParse(event.data);
  if (!parsed.success) return [];
  const { path, windowStart, windowStop, statistics } = parsed.data;
  const rows: NewGrabStatisticsRow[] = [];
  for (const entry of statistics) {
    const stats = parameterSchema.safeParse(entry);
    if (!stats.success) continue;
    const s = stats.data;
    rows.push({
      run_id: event.actorId,
      parameter: s.parameter,
      units: s.units,
      window_start: windowStart,
      window_stop: windowStop,
      output_file: path,
      count: s.count,
      nan_count: s.nanCount,
      min: s.min,
      max: s.max,
      mean: s.mean,
      std: s.std,
      mode: s.mode,
      first_time: s.firstTime,
      last_time: s.lastTime,
      interval_count: s.interval.count,
      interval_nan_count: s.interval.nanCount,
      interval_min: s.interval.min,
      interval_max: s.interval.max,
      interval_mean: s.interval.mean,
      interval_std: s.interval.std,
      interval_mode: s.interval.mode,
      recorded_at: event.time,
      position: event.position,
    });
  }
  return rows;
};

// A multi-row ON CONFLICT DO UPDATE may not touch the same row twice, so a batch is first
// reduced to one row per (run, parameter): the one of the newest event (the last entry of an
// event that names a parameter twice).
const batchRows = (events: readonly RecordedEvent[]): NewGrabStatisticsRow[] => {
  const byKey = new Map<string, NewGrabStatisticsRow>();
  for (const event of events) {
    for (const row of statisticsRowsOf(event)) {
      const key = `${row.run_id}\u0000${row.parameter}`;
      const seen = byKey.get(key);
      if (seen === undefined || seen.position <= row.position) byKey.set(key, row);
    }
  }
  return [...byKey.values()].sort((a, b) =>
    a.run_id === b.run_id ? (a.parameter < b.parameter ? -1 : 1) : a.run_id < b.run_id ? -1 : 1,
  );
};

const handles = (event: RecordedEvent): boolean => event.actorKind === GRAB_KIND && event.type === FILE_WRITTEN;

/**
 * Keeps `grab_statistics`: one row per grab run and parameter, from the run's `fileWritten`
 * event. Upserts by (run_id, parameter); a row only moves to a newer event (higher position),
 * so repeated or late events change nothing. Every other event is ignored.
 */
export const grabStatisticsProjection: Projection = {
  name: 'grabStatistics',
  tables: ['grab_statistics'],
  handles,
  async apply(trx, events) {
    // The projector filters with `handles` already; a direct caller may not.
    const rows = batchRows(events.filter(handles));
    for (const chunk of inStatementChunks(rows)) {
      await trx
        .insertInto('grab_statistics')
        .values(chunk)
        .onConflict((oc) =>
          oc
            .columns(['run_id', 'parameter'])
            .doUpdateSet((eb) => ({
              units: eb.ref('excluded.units'),
              window_start: eb.ref('excluded.window_start'),
              window_stop: eb.ref('excluded.window_stop'),
              output_file: eb.ref('excluded.output_file'),
              count: eb.ref('excluded.count'),
              nan_count: eb.ref('excluded.nan_count'),
              min: eb.ref('excluded.min'),
              max: eb.ref('excluded.max'),
              mean: eb.ref('excluded.mean'),
              std: eb.ref('excluded.std'),
              mode: eb.ref('excluded.mode'),
              first_time: eb.ref('excluded.first_time'),
              last_time: eb.ref('excluded.last_time'),
              interval_count: eb.ref('excluded.interval_count'),
              interval_nan_count: eb.ref('excluded.interval_nan_count'),
              interval_min: eb.ref('excluded.interval_min'),
              interval_max: eb.ref('excluded.interval_max'),
              interval_mean: eb.ref('excluded.interval_mean'),
              interval_std: eb.ref('excluded.interval_std'),
              interval_mode: eb.ref('excluded.interval_mode'),
              recorded_at: eb.ref('excluded.recorded_at'),
              position: eb.ref('excluded.position'),
            }))
            .where((eb) => eb('grab_statistics.position', '<', eb.ref('excluded.position'))),
        )
        .execute();
    }
  },
};
