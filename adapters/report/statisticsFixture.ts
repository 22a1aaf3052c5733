/**
 * Statistics documents as `daqflow stats export` writes them, for the report specs and demos:
 * daily grab runs of a parameter with a slow drift, one run whose min is undefined, one whose
 * mean is NaN and one with NaN samples. Typed as the export, so a change of the export's shape
 * shows up here at compile time.
 */
import type { ParameterStatisticsExport, StatisticsPoint } from '../../projections/grabStatistics.queries.js';

const DAY_MS = 86_400_000;

export interface StatisticsFixtureOptions {
  readonly parameter: string;
  readonly units: string | null;
  /** Window start of the first run (UTC). */
  readonly start?: string;
  readonly runs?: number;
  readonly level?: number;
  readonly spread?: number;
}

/** A parameter's statistics over `runs` daily grab runs. */
export const statisticsFixture = (options: StatisticsFixtureOptions): ParameterStatisticsExport => {
  const start = Date.parse(options.start ?? '2026-11-01T00:00:00Z');
  const runs = options.runs ?? 14;
  const level = options.level ?? 10;
  const spread = options.spread ?? 1;
  const series = Array.from({ length: runs }, (_, i): StatisticsPoint => {
    const mean = level + Math.sin(i / 2) * 0.3 * spread;
    const std = (0.25 + 0.05 * (i % 3)) * spread;
    const count = 86_400 - (i === 3 ? 12 : 0);
    const stats = {
      count,
      nanCount: i === 3 ? 12 : 0,
      min: i === 5 ? null : mean - 1.2 * spread,
      max: mean + (1.1 + (i === 8 ? 0.8 : 0)) * spread,
      mean: i === 10 ? Number.NaN : mean,
      std,
      mode: mean,
    };
    return {
      runId: `grab-fixture-${i}`,
      windowStart: new Date(start + i * DAY_MS).toISOString(),
      windowStop: new Date(start + (i + 1) * DAY_MS).toISOString(),
      units: options.units,
      outputFile: `/data/MLParamData_${i}.h5`,
      ...stats,
      firstTime: (start + i * DAY_MS) / 1000,
      lastTime: (start + (i + 1) * DAY_MS) / 1000 - 1,
      interval: { count: count - 1, nanCount: 0, min: 1, max: 1, mean: 1, std: 0, mode: 1 },
    };
  });
  return {
    parameter: options.parameter,
    units: options.units,
    generatedFrom: 'daqflow grab statistics',
    from: new Date(start).toISOString(),
    to: new Date(start + runs * DAY_MS).toISOString(),
    series,
  };
};
