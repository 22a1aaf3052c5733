import { parseArgs } from 'node:util';

export const measurementNames = ['append', 'rebuild', 'rehydrate', 'memory', 'grab', 'acquisition', 'projectorLag'] as const;
export type MeasurementName = (typeof measurementNames)[number];

/** What runs without --only: projectorLag takes minutes of traffic per rate and is asked for by name. */
export const defaultMeasurements: readonly MeasurementName[] = measurementNames.filter((n) => n !== 'projectorLag');

const placements = ['shared', 'thread', 'own'] as const;

export interface BenchOptions {
  /** Events of the aggregate append run (actors x events/actors). */
  readonly events: number;
  /** Actors appending concurrently (also the raw baseline's publishes in flight). */
  readonly actors: number;
  /** Sequential appends to one actor for the latency rows. */
  readonly latencyOps: number;
  /** Events in the projection rebuild. */
  readonly rebuildEvents: number;
  /** Actors the rebuild's events belong to. */
  readonly rebuildActors: number;
  /** Events of the rehydrated actor. */
  readonly rehydrateEvents: number;
  readonly folds: number;
  readonly reads: number;
  /** Live actors of the memory row. */
  readonly liveActors: number;
  readonly memoryStore: 'jetstream' | 'memory';
  /** The grab run: simulated parameters, window length, sample rate, chunk length, runs. */
  readonly grabParameters: number;
  readonly grabHours: number;
  readonly grabRateHz: number;
  readonly grabChunkSeconds: number;
  readonly grabRepeat: number;
  /** Job traffic rates of the projector lag rows, events per second. */
  readonly lagRates: readonly number[];
  /** Where the projector runs in the lag rows. */
  readonly lagPlacements: readonly (typeof placements)[number][];
  /** Measured window of each lag row. */
  readonly lagSeconds: number;
  /** Runs per throughput/latency measurement (median reported), after one warm-up. */
  readonly repeat: number;
  readonly only: readonly MeasurementName[];
  readonly outDir: string | undefined;
}

const numeric = {
  events: { default: 20_000, help: 'events of the aggregate append run' },
  actors: { default: 1_000, help: 'actors appending concurrently (= raw publishes in flight)' },
  'latency-ops': { default: 2_000, help: 'sequential appends to one actor, per run' },
  'rebuild-events': { default: 20_000, help: 'events in the projection rebuild' },
  'rebuild-actors': { default: 1_000, help: 'actors the rebuild events belong to' },
  'rehydrate-events': { default: 1_000, help: 'events of the rehydrated actor' },
  folds: { default: 50, help: 'timed in-memory folds' },
  reads: { default: 20, help: 'timed JetStream reads + folds' },
  'live-actors': { default: 10_000, help: 'live actors for the memory row' },
  repeat: { default: 5, help: 'runs per throughput/latency measurement (median reported)' },
  'grab-parameters': { default: 100, help: 'simulated parameters of the grab run' },
  'grab-hours': { default: 24, help: 'window of the grab run, hours (the memory rows also run a quarter of it)' },
  'grab-rate-hz': { default: 1, help: 'samples per second of every grabbed parameter' },
  'grab-chunk-seconds': { default: 21_600, help: 'chunk length of the grab run, seconds' },
  'grab-repeat': { default: 1, help: 'grab runs, each between its baselines (median reported)' },
  'lag-seconds': { default: 60, help: 'measured window of each projector lag row, seconds' },
} as const;

type NumericName = keyof typeof numeric;

const envName = (flag: string): string => `DAQFLOW_BENCH_${flag.toUpperCase().replace(/-/g, '_')}`;

export const usage = (): string =>
  [
    'usage: npm run bench -- [options]      (or: npx tsx bench/bench.ts [options])',
    '',
    ...Object.entries(numeric).map(
      ([flag, { default: d, help }]) => `  --${flag.padEnd(19)} ${help} (default ${d}; env ${envName(flag)})`,
    ),
    `  --${'memory-store'.padEnd(19)} jetstream | memory: store the live actors are created through (default jetstream; env ${envName('memory-store')})`,
    `  --${'lag-rates'.padEnd(19)} comma list of job traffic rates of the projector lag rows, events/s (default 2000,5000; env ${envName('lag-rates')})`,
    `  --${'lag-placements'.padEnd(19)} comma list of shared (projector beside the runtime), thread (on a worker thread, as daqflow up runs it), own (in its own process) (default shared,thread,own; env ${envName('lag-placements')})`,
    `  --${'only'.padEnd(19)} comma list of ${measurementNames.join(',')} (default all but projectorLag; env ${envName('only')})`,
    `  --${'out'.padEnd(19)} folder of the JSON result (default bench/out; env ${envName('out')})`,
    `  --${'help'.padEnd(19)} this text`,
    '',
    'PostgreSQL: $DAQFLOW_BENCH_PG_URL, else postgres://postgres@127.0.0.1:5432/postgres, else embedded.',
  ].join('\n');

/** Options from flags, then DAQFLOW_BENCH_* environment variables, then defaults. */
export const parseOptions = (argv: readonly string[]): BenchOptions | 'help' => {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      ...Object.fromEntries(Object.keys(numeric).map((k) => [k, { type: 'string' as const }])),
      'memory-store': { type: 'string' },
      'lag-rates': { type: 'string' },
      'lag-placements': { type: 'string' },
      only: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return 'help';
  const raw = (flag: string): string | undefined => {
    const v = (values as Record<string, unknown>)[flag];
    return typeof v === 'string' ? v : process.env[envName(flag)];
  };
  const num = (flag: NumericName): number => {
    const text = raw(flag);
    if (text === undefined || text === '') return numeric[flag].default;
    const n = Number(text.replace(/_/g, ''));
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} ${text}: expected a positive integer`);
    return n;
  };
  const memoryStore = raw('memory-store') ?? 'jetstream';
  if (memoryStore !== 'jetstream' && memoryStore !== 'memory') {
    throw new Error(`--memory-store ${memoryStore}: expected jetstream or memory`);
  }
  const onlyText = raw('only');
  const only = onlyText ? onlyText.split(',').map((s) => s.trim()).filter(Boolean) : [...defaultMeasurements];
  for (const name of only) {
    if (!(measurementNames as readonly string[]).includes(name)) {
      throw new Error(`--only ${name}: expected some of ${measurementNames.join(',')}`);
    }
  }
  const lagRates = (raw('lag-rates') ?? '2000,5000').split(',').map((t) => Number(t.trim()));
  if (lagRates.some((r) => !Number.isInteger(r) || r < 1)) throw new Error(`--lag-rates ${raw('lag-rates')}: expected positive integers`);
  const lagPlacements = (raw('lag-placements') ?? 'shared,thread,own').split(',').map((t) => t.trim());
  for (const p of lagPlacements) {
    if (!(placements as readonly string[]).includes(p)) throw new Error(`--lag-placements ${p}: expected some of ${placements.join(',')}`);
  }
  const events = num('events');
  const actors = num('actors');
  if (actors > events) throw new Error(`--actors ${actors} exceeds --events ${events}`);
  return {
    events,
    actors,
    latencyOps: num('latency-ops'),
    rebuildEvents: num('rebuild-events'),
    rebuildActors: num('rebuild-actors'),
    rehydrateEvents: num('rehydrate-events'),
    folds: num('folds'),
    reads: num('reads'),
    liveActors: num('live-actors'),
    memoryStore,
    grabParameters: num('grab-parameters'),
    grabHours: num('grab-hours'),
    grabRateHz: num('grab-rate-hz'),
    grabChunkSeconds: num('grab-chunk-seconds'),
    grabRepeat: num('grab-repeat'),
    lagRates,
    lagPlacements: lagPlacements as (typeof placements)[number][],
    lagSeconds: num('lag-seconds'),
    repeat: num('repeat'),
    only: only as MeasurementName[],
    outDir: raw('out'),
  };
};
