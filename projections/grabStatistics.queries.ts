import type { DbOrTrx } from './database.js';
import type { GrabStatisticsRow } from './grabStatistics.projection.js';

/** A time bound: a Date, or a string PostgreSQL and `Date` both read (ISO 8601). */
export type TimeBound = Date | string;

export interface StatisticsFilter {
  /** Only this parameter (exact name). */
  readonly parameter?: string;
  /** Only runs whose window ends after this time. */
  readonly from?: TimeBound;
  /** Only runs whose window starts before this time. */
  readonly to?: TimeBound;
  /** Default 100, clamped to 1..10000. */
  readonly limit?: number;
}

/** `limit` of queryStatistics when none is given. */
export const DEFAULT_STATISTICS_LIMIT = 100;
/** The most rows one queryStatistics call returns. */
export const MAX_STATISTICS_LIMIT = 10_000;

const toDate = (bound: TimeBound, name: string): Date => {
  const date = bound instanceof Date ? bound : new Date(bound);
  if (Number.isNaN(date.getTime())) throw new RangeError(`${name} ${String(bound)} is not a time`);
  return date;
};

// int8 columns come back as numbers from createDb's pool but as strings from a plain pg pool:
// either way the caller gets numbers.
const normalized = (row: GrabStatisticsRow): GrabStatisticsRow => ({
  ...row,
  count: Number(row.count),
  nan_count: Number(row.nan_count),
  interval_count: Number(row.interval_count),
  interval_nan_count: Number(row.interval_nan_count),
  position: Number(row.position),
});

const selectStatistics = (db: DbOrTrx, filter: Omit<StatisticsFilter, 'limit'>) => {
  const { parameter } = filter;
  const from = filter.from === undefined ? undefined : toDate(filter.from, 'from');
  const to = filter.to === undefined ? undefined : toDate(filter.to, 'to');
  return (
    db
      .selectFrom('grab_statistics')
      .selectAll()
      .$if(parameter !== undefined, (qb) => qb.where('parameter', '=', parameter as string))
      // The window [window_start, window_stop) overlaps [from, to).
      .$if(from !== undefined, (qb) => qb.where('window_stop', '>', from as Date))
      .$if(to !== undefined, (qb) => qb.where('window_start', '<', to as Date))
  );
};

/**
 * Grab statistics rows, one per run and parameter, whose run window overlaps [from, to): the
 * newest `limit` of them, ordered by window start, then parameter, then run id. Counts and positions are numbers, times Dates.
 */
export const queryStatistics = async (db: DbOrTrx, filter: StatisticsFilter = {}): Promise<GrabStatisticsRow[]> => {
  const limit = Math.min(MAX_STATISTICS_LIMIT, Math.max(1, Math.trunc(filter.limit ?? DEFAULT_STATISTICS_LIMIT)));
  // The newest rows are the ones wanted when a limit cuts: select newest first, answer in time order.
  const rows = await selectStatistics(db, filter)
    .orderBy('window_start', 'desc')
    .orderBy('parameter', 'desc')
    .orderBy('run_id', 'desc')
    .limit(limit)
    .execute();
  return rows.reverse().map(normalized);
};

/** Count, NaN count, min, max, mean, std, mode of one series; null where undefined. */
export interface SeriesStatisticsJson {
  readonly count: number;
  readonly nanCount: number;
  readonly min: number | null;
  readonly max: number | null;
  readonly mean: number | null;
  readonly std: number | null;
  readonly mode: number | null;
}

/** One grab run's statistics of the parameter: one point of the plot. */
export interface StatisticsPoint extends SeriesStatisticsJson {
  readonly runId: string;
  /** ISO 8601 (UTC, milliseconds). */
  readonly windowStart: string;
  readonly windowStop: string;
  readonly units: string | null;
  readonly outputFile: string;
  /** UTC seconds (float) of the run's first and last sample, NaN samples included. */
  readonly firstTime: number | null;
  readonly lastTime: number | null;
  /** The same statistics over the sample-to-sample intervals, in seconds. */
  readonly interval: SeriesStatisticsJson;
}

/** The JSON document `daqflow stats export` writes: a parameter's statistics over time. */
export interface ParameterStatisticsExport {
  readonly parameter: string;
  /** Units of the newest run that names any; null when none does. */
  readonly units: string | null;
  readonly generatedFrom: 'daqflow grab statistics';
  /** The bounds asked for (ISO 8601), null when open. */
  readonly from: string | null;
  readonly to: string | null;
  /** One point per grab run, by window start (then run id). */
  readonly series: StatisticsPoint[];
}

const pointOf = (row: GrabStatisticsRow): StatisticsPoint => ({
  runId: row.run_id,
  windowStart: new Date(row.window_start).toISOString(),
  windowStop: new Date(row.window_stop).toISOString(),
  units: row.units,
  outputFile: row.output_file,
  count: Number(row.count),
  nanCount: Number(row.nan_count),
  min: row.min,
  max: row.max,
  mean: row.mean,
  std: row.std,
  mode: row.mode,
  firstTime: row.first_time,
  lastTime: row.last_time,
  interval: {
    count: Number(row.interval_count),
    nanCount: Number(row.interval_nan_count),
    min: row.interval_min,
    max: row.interval_max,
    mean: row.interval_mean,
    std: row.interval_std,
    mode: row.interval_mode,
  },
});

/**
 * Every grab run's statistics of `parameter` whose window overlaps [from, to), as one JSON
 * document for plotting (no limit: one point per run). An unknown parameter gives an empty series.
 */
export const exportParameterStatistics = async (
  db: DbOrTrx,
  parameter: string,
  options: { readonly from?: TimeBound; readonly to?: TimeBound } = {},
): Promise<ParameterStatisticsExport> => {
  const rows = await selectStatistics(db, { ...options, parameter })
    .orderBy('window_start')
    .orderBy('run_id')
    .execute();
  const series = rows.map(pointOf);
  const units = series.findLast((p) => p.units !== null)?.units ?? null;
  return {
    parameter,
    units,
    generatedFrom: 'daqflow grab statistics',
    from: options.from === undefined ? null : toDate(options.from, 'from').toISOString(),
    to: options.to === undefined ? null : toDate(options.to, 'to').toISOString(),
    series,
  };
};
