import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../adapters/postgres/migrate.js';
import { InMemoryEventStore, type EventEnvelope, type RecordedEvent } from '../events/index.js';
import { recordedDemoStep } from '../test/harness/demoEvents.js';
import { projectionSteps } from '../test/harness/projectionSteps.js';
import { useTestDatabase } from '../test/harness/testDatabase.js';
import { readCheckpoint } from './checkpoints.js';
import { grabStatisticsProjection, type GrabStatisticsRow } from './grabStatistics.projection.js';
import { exportParameterStatistics, queryStatistics } from './grabStatistics.queries.js';
import { applyProjections } from './projection.js';
import { allProjections } from '../adapters/jobs/registry.js';
import { rebuildProjections } from './replay.js';

interface Series {
  count: number;
  nanCount: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  std: number | null;
  mode: number | null;
}
interface ParameterStats extends Series {
  parameter: string;
  units: string | null;
  firstTime: number | null;
  lastTime: number | null;
  interval: Series;
}

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 22, 8);
const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * A parameter's statistics with numbers that survive only an exact round trip: thirds, 0.1 + 0.2,
 * a subnormal, UTC seconds with microseconds. `seed` makes each one different.
 */
const statsOf = (parameter: string, seed: number, overrides: Partial<ParameterStats> = {}): ParameterStats => ({
  parameter,
  units: 'eV',
  count: 1_000 + seed,
  nanCount: seed % 3,
  min: -1 / 3 - seed,
  max: 0.1 + 0.2 + seed,
  mean: Math.PI * seed,
  std: 5e-324 * (seed + 1),
  mode: 2 ** 52 + seed,
  firstTime: 1_795_334_400.123456 + seed,
  lastTime: 1_795_338_000.654321 + seed,
  interval: { count: 999 + seed, nanCount: 0, min: 0.009999999, max: 0.0100001 * (seed + 1), mean: 0.01, std: 1e-7, mode: 0.01 },
  ...overrides,
});

/** A grab run's fileWritten as the store records it at `position`, its window `hour` hours after T0. */
const fileWritten = (
  runId: string,
  position: number,
  hour: number,
  statistics: ParameterStats[],
  overrides: Partial<RecordedEvent> = {},
): RecordedEvent => ({
  id: `${runId}-fileWritten-${position}`,
  type: 'fileWritten',
  schemaVersion: 1,
  actorKind: 'grab',
  actorId: runId,
  version: 7,
  time: iso(T0 + (hour + 1) * HOUR + 42_123),
  correlationId: `corr-${runId}`,
  causationId: `${runId}-6`,
  commandId: null,
  previousState: 'assembling',
  state: 'completed',
  final: true,
  summary: {},
  data: {
    path: `/data/grabs/${runId}.h5`,
    bytes: 123_456,
    samples: statistics.reduce((n, s) => n + s.count + s.nanCount, 0),
    windowStart: iso(T0 + hour * HOUR),
    windowStop: iso(T0 + (hour + 1) * HOUR),
    statistics,
  },
  position,
  ...overrides,
});

/** The row the projection must hold for `stats` of `event`. */
const expectedRow = (event: RecordedEvent, stats: ParameterStats): GrabStatisticsRow => {
  const data = event.data as { path: string; windowStart: string; windowStop: string };
  return {
    run_id: event.actorId,
    parameter: stats.parameter,
    units: stats.units,
    window_start: new Date(data.windowStart),
    window_stop: new Date(data.windowStop),
    output_file: data.path,
    count: stats.count,
    nan_count: stats.nanCount,
    min: stats.min,
    max: stats.max,
    mean: stats.mean,
    std: stats.std,
    mode: stats.mode,
    first_time: stats.firstTime,
    last_time: stats.lastTime,
    interval_count: stats.interval.count,
    interval_nan_count: stats.interval.nanCount,
    interval_min: stats.interval.min,
    interval_max: stats.interval.max,
    interval_mean: stats.interval.mean,
    interval_std: stats.interval.std,
    interval_mode: stats.interval.mode,
    recorded_at: new Date(event.time),
    position: event.position,
  };
};

describe('grabStatisticsProjection', () => {
  const t = useTestDatabase();
  const { given, when } = projectionSteps(t, grabStatisticsProjection);
  const rows = (): Promise<GrabStatisticsRow[]> =>
    t.db.selectFrom('grab_statistics').selectAll().orderBy('run_id').orderBy('parameter').execute();

  beforeEach(async () => {
    await sql`truncate grab_statistics`.execute(t.db);
  });

  it("writes one row per parameter with exactly the event's numbers", async () => {
    const energy = statsOf('SARFE10:ENERGY', 1);
    const empty = statsOf('SARFE10:DEAD', 2, {
      units: null,
      count: 0,
      nanCount: 17,
      min: null,
      max: null,
      mean: null,
      std: null,
      mode: null,
      interval: { count: 16, nanCount: 0, min: 0, max: 0.5, mean: 0.25, std: null, mode: 0 },
    });
    const event = fileWritten('run-a', 11, 0, [energy, empty]);
    await when([event]);
    expect(await rows()).toEqual([expectedRow(event, empty), expectedRow(event, energy)]);
    const [row] = await rows();
    expect(typeof row?.count).toBe('number');
    expect(typeof row?.position).toBe('number');
  });

  it('is idempotent: a re-applied batch, or an older event for the run, changes nothing', async () => {
    const stats = [statsOf('P1', 1), statsOf('P2', 2)];
    const event = fileWritten('run-a', 20, 0, stats);
    await when([event]);
    const once = await rows();
    await given([event, event]);
    await given([fileWritten('run-a', 19, 0, [statsOf('P1', 9), statsOf('P2', 9)])]);
    expect(await rows()).toEqual(once);
    expect(once).toEqual(stats.map((s) => expectedRow(event, s)));
  });

  it('moves a row to a newer event for the same run and parameter, also within one batch', async () => {
    const older = fileWritten('run-a', 5, 0, [statsOf('P1', 1)]);
    const newer = fileWritten('run-a', 8, 0, [statsOf('P1', 4)]);
    await when([newer, older]);
    expect(await rows()).toEqual([expectedRow(newer, statsOf('P1', 4))]);
    const newest = fileWritten('run-a', 30, 0, [statsOf('P1', 7)]);
    await when([newest]);
    expect(await rows()).toEqual([expectedRow(newest, statsOf('P1', 7))]);
  });

  it('keeps rows of two runs apart, the same parameter included', async () => {
    const a = fileWritten('run-a', 3, 0, [statsOf('P1', 1), statsOf('P2', 2)]);
    const b = fileWritten('run-b', 4, 1, [statsOf('P1', 3)]);
    await when([a, b]);
    expect(await rows()).toEqual([
      expectedRow(a, statsOf('P1', 1)),
      expectedRow(a, statsOf('P2', 2)),
      expectedRow(b, statsOf('P1', 3)),
    ]);
  });

  it('ignores other kinds and types, and skips malformed data without throwing', async () => {
    const good = fileWritten('run-good', 9, 0, [statsOf('P1', 1)]);
    const batch: RecordedEvent[] = [
      recordedDemoStep('d1', 1, 1, 1, { type: 'fileWritten', data: good.data }),
      fileWritten('run-x', 2, 0, [statsOf('P1', 1)], { type: 'chunkWritten' }),
      fileWritten('run-y', 3, 0, [], { data: { path: '/x.h5', windowStart: 'yesterday', statistics: [] } }),
      fileWritten('run-z', 4, 0, [], { data: null }),
      // One malformed entry costs only itself.
      fileWritten('run-w', 5, 0, [statsOf('P1', 1), { parameter: 'P2', count: 'many' } as unknown as ParameterStats]),
      good,
    ];
    await when(batch);
    expect((await rows()).map((r) => [r.run_id, r.parameter])).toEqual([
      ['run-good', 'P1'],
      ['run-w', 'P1'],
    ]);
  });

  it('is applied by the projector path (allProjections), seeing only grab fileWritten events', async () => {
    const event = fileWritten('run-p', 2, 0, [statsOf('P1', 1)]);
    await t.db.transaction().execute((trx) => applyProjections(trx, allProjections, [recordedDemoStep('d9', 1, 2, 1), event]));
    expect(await rows()).toEqual([expectedRow(event, statsOf('P1', 1))]);
  });

  describe('queries', () => {
    // Windows: run-0 [8h, 9h), run-1 [9h, 10h), run-2 [10h, 11h), run-3 [11h, 12h), P1 in all,
    // P2 in run-1 and run-3, P2 with other units in run-3.
    const events = [
      fileWritten('run-2', 13, 2, [statsOf('P1', 2)]),
      fileWritten('run-0', 11, 0, [statsOf('P1', 0)]),
      fileWritten('run-3', 14, 3, [statsOf('P2', 13, { units: 'keV' }), statsOf('P1', 3)]),
      fileWritten('run-1', 12, 1, [statsOf('P2', 11, { units: null }), statsOf('P1', 1)]),
    ];
    beforeEach(async () => {
      await given(events);
    });

    it('queryStatistics: ordered by window start then parameter, filtered by parameter and overlap, limited', async () => {
      const key = (r: GrabStatisticsRow): string => `${r.run_id}/${r.parameter}`;
      expect((await queryStatistics(t.db)).map(key)).toEqual([
        'run-0/P1',
        'run-1/P1',
        'run-1/P2',
        'run-2/P1',
        'run-3/P1',
        'run-3/P2',
      ]);
      expect((await queryStatistics(t.db, { parameter: 'P2' })).map(key)).toEqual(['run-1/P2', 'run-3/P2']);
      // [9h, 11h) overlaps run-1 and run-2 only: run-0 ends at 9h, run-3 starts at 11h.
      const from = new Date(T0 + HOUR);
      const to = iso(T0 + 3 * HOUR);
      expect((await queryStatistics(t.db, { from, to, parameter: 'P1' })).map(key)).toEqual(['run-1/P1', 'run-2/P1']);
      // A bound inside a window still finds that run.
      expect((await queryStatistics(t.db, { from: iso(T0 + 3.5 * HOUR) })).map(key)).toEqual(['run-3/P1', 'run-3/P2']);
      expect((await queryStatistics(t.db, { to: iso(T0 + 0.5 * HOUR) })).map(key)).toEqual(['run-0/P1']);
      expect(await queryStatistics(t.db, { from: iso(T0 + 10 * HOUR) })).toEqual([]);
      expect((await queryStatistics(t.db, { limit: 2 })).map(key)).toEqual(['run-3/P1', 'run-3/P2']); // the newest two, in time order
      expect(await queryStatistics(t.db, { limit: 0 })).toHaveLength(1);
      expect(await queryStatistics(t.db, { parameter: 'nope' })).toEqual([]);
      await expect(queryStatistics(t.db, { from: 'not a time' })).rejects.toThrow(/from not a time is not a time/);
    });

    it('exportParameterStatistics: one point per run by window start, units of the newest run that has some', async () => {
      const document = await exportParameterStatistics(t.db, 'P2');
      expect(document).toEqual({
        parameter: 'P2',
        units: 'keV',
        generatedFrom: 'daqflow grab statistics',
        from: null,
        to: null,
        series: [
          {
            runId: 'run-1',
            windowStart: '2026-11-22T09:00:00.000Z',
            windowStop: '2026-11-22T10:00:00.000Z',
            units: null,
            outputFile: '/data/grabs/run-1.h5',
            ...(({ parameter: _p, units: _u, ...numbers }) => numbers)(statsOf('P2', 11)),
          },
          {
            runId: 'run-3',
            windowStart: '2026-11-22T11:00:00.000Z',
            windowStop: '2026-11-22T12:00:00.000Z',
            units: 'keV',
            outputFile: '/data/grabs/run-3.h5',
            ...(({ parameter: _p, units: _u, ...numbers }) => numbers)(statsOf('P2', 13)),
          },
        ],
      });
      // What a plot reads: the JSON text, numbers exact.
      const parsed = JSON.parse(JSON.stringify(document)) as typeof document;
      expect(parsed.series[0]?.std).toBe(5e-324 * 12);
      expect(parsed.series[1]?.firstTime).toBe(1_795_334_400.123456 + 13);
      expect(parsed.series[1]?.interval).toEqual(statsOf('P2', 13).interval);
    });

    it('exportParameterStatistics: from/to select the overlapping runs; unknown parameters give an empty series', async () => {
      const p1 = await exportParameterStatistics(t.db, 'P1', { from: iso(T0 + 1.5 * HOUR), to: new Date(T0 + 3 * HOUR) });
      expect(p1.series.map((p) => p.runId)).toEqual(['run-1', 'run-2']);
      expect(p1).toMatchObject({ from: '2026-11-22T09:30:00.000Z', to: '2026-11-22T11:00:00.000Z', units: 'eV' });
      expect((await exportParameterStatistics(t.db, 'P1')).series.map((p) => p.runId)).toEqual([
        'run-0',
        'run-1',
        'run-2',
        'run-3',
      ]);
      expect(await exportParameterStatistics(t.db, 'nope')).toEqual({
        parameter: 'nope',
        units: null,
        generatedFrom: 'daqflow grab statistics',
        from: null,
        to: null,
        series: [],
      });
    });
  });

  it('is rebuilt by rebuildProjections: the table, its rows and its index come back', async () => {
    const store = new InMemoryEventStore();
    const envelope = ({ position: _position, ...rest }: RecordedEvent): EventEnvelope => rest;
    const runs = [
      // Version 1: the in-memory store checks each actor's versions follow on.
      fileWritten('run-r1', 0, 0, [statsOf('P1', 1), statsOf('P2', 2)], { version: 1 }),
      fileWritten('run-r2', 0, 1, [statsOf('P1', 3)], { version: 1 }),
    ];
    await store.append(envelope(recordedDemoStep('d-r', 1, 1, 0)));
    const recorded = [];
    for (const run of runs) recorded.push({ ...run, position: (await store.append(envelope(run))).position });
    await sql`drop table grab_statistics`.execute(t.db);

    const result = await rebuildProjections({
      db: t.db,
      store,
      projections: allProjections,
      prepareSchema: (schema) => migrateToLatest(t.db, { schema }),
      projectorName: 'grab-statistics-spec',
    });

    expect(result.position).toBe(3);
    expect(await readCheckpoint(t.db, 'grab-statistics-spec')).toBe(3);
    const [r1, r2] = recorded as [RecordedEvent, RecordedEvent];
    expect(await rows()).toEqual([
      expectedRow(r1, statsOf('P1', 1)),
      expectedRow(r1, statsOf('P2', 2)),
      expectedRow(r2, statsOf('P1', 3)),
    ]);
    const { rows: indexes } = await sql<{ indexname: string }>`
      select indexname from pg_indexes where schemaname = 'public' and tablename = 'grab_statistics' order by 1
    `.execute(t.db);
    expect(indexes.map((r) => r.indexname)).toEqual(['grab_statistics_parameter_window_start_idx', 'grab_statistics_pkey']);
  });
});
