import type { AnyMachineSnapshot } from 'xstate';
import { createDemoEffects } from '../adapters/jobs/demo/demoEffects.js';
import { newId } from '../adapters/ids.js';
import { createJetStreamEventStore } from '../adapters/jetstream/jetstreamEventStore.js';
import { ActorRuntime } from '../actors/runtime/actorRuntime.js';
import { rehydrate } from '../actors/runtime/rehydrate.js';
import { EventSchemas } from '../events/eventSchemas.js';
import type { EventStore } from '../events/eventStore.js';
import { InMemoryEventStore } from '../events/inMemoryEventStore.js';
import { demoDefinition, demoHistory, recorded } from './history.js';
import type { Log, Measured } from './result.js';
import { deleteStream, freshStreamNames, recreateStream, type BenchServers } from './servers.js';
import { fmt, fmtMB, pool, settledHeap } from './stats.js';

export interface MemoryBenchOptions {
  readonly actors: number;
  /** Which store the runtime creates its actors through. */
  readonly store: 'jetstream' | 'memory';
  /** Creates in flight. */
  readonly concurrency: number;
}

/** One hour: the deadline stays armed for the whole measurement. */
const intervalMs = 3_600_000;

/**
 * The floor: what `actors` bare demo snapshots in `waiting` cost when held in a Map, each with
 * one armed timer, and nothing else (no runtime, no store). Bytes.
 */
const bareSnapshots = async (actors: number): Promise<number> => {
  const histories = Array.from({ length: actors }, () => recorded(demoHistory({ events: 1 })));
  const before = await settledHeap();
  const held = new Map<string, { snapshot: AnyMachineSnapshot; timer: NodeJS.Timeout }>();
  for (const history of histories) {
    const id = history[0]!.actorId;
    const { snapshot } = rehydrate(demoDefinition, id, history);
    held.set(`demo.${id}`, { snapshot, timer: setTimeout(() => undefined, intervalMs) });
  }
  const after = await settledHeap();
  // The histories were alive in both readings, so they cancel out; only now may they go.
  if (histories.length !== held.size) throw new Error('bare snapshots went wrong');
  for (const { timer } of held.values()) clearTimeout(timer);
  held.clear();
  return after - before;
};

/**
 * Heap of an ActorRuntime hosting `actors` demo actors in `waiting` (created with runtime.create,
 * intervalMs one hour, so each holds one armed deadline timer): heap after forced GC minus the
 * heap before the runtime existed (store and connection already made).
 */
export const runMemoryBench = async (servers: BenchServers, options: MemoryBenchOptions, log: Log): Promise<Measured> => {
  const { actors, concurrency } = options;
  log(`memory: ${actors} bare snapshots (the floor)`);
  await bareSnapshots(Math.min(actors, 1_000));
  const bare = await bareSnapshots(actors);

  const names = freshStreamNames('memory');
  let store: EventStore & { close?: () => Promise<void> };
  if (options.store === 'jetstream') {
    await recreateStream(servers.jsm, names);
    store = createJetStreamEventStore({ nc: servers.nc, ...names });
  } else {
    store = new InMemoryEventStore();
  }
  const labels = Array.from({ length: actors }, (_, i) => `bench actor ${String(i).padStart(5, '0')}`);
  const heapBefore = await settledHeap();
  const rssBefore = process.memoryUsage().rss;
  let runtime: ActorRuntime | undefined = new ActorRuntime({
    store,
    schemas: new EventSchemas(),
    definitions: [demoDefinition],
    effects: { demo: createDemoEffects() },
    newId,
  });
  log(`memory: creating ${actors} demo actors through ${options.store} (${concurrency} in flight)`);
  const started = performance.now();
  await pool(labels, concurrency, async (label) => {
    const view = await runtime!.create('demo', 'start', { steps: 3, intervalMs, label });
    if (view.state !== 'waiting') throw new Error(`created actor is ${view.state}`);
  });
  const createMs = performance.now() - started;
  const hosted = runtime.size();
  if (hosted !== actors) throw new Error(`runtime hosts ${hosted} actors, expected ${actors}`);
  const heapAfter = await settledHeap();
  const rssAfter = process.memoryUsage().rss;
  await runtime.stop(0);
  runtime = undefined;
  await store.close?.();
  if (options.store === 'jetstream') await deleteStream(servers.jsm, names);

  const bytes = heapAfter - heapBefore;
  const mb = bytes / (1024 * 1024);
  return {
    rows: [
      {
        key: 'memory.liveActors',
        measurement: `heap of ${actors} live actors (${options.store} store), MB`,
        daqflow: mb,
        baseline: bare / (1024 * 1024),
        ratio: bytes / bare,
        unit: 'MB',
        baselineLabel: 'bare snapshots + timers',
        target: '< 300 MB',
        result: mb < 300 ? 'PASS' : 'MISS',
      },
      {
        key: 'memory.perActor',
        measurement: '  per actor, bytes',
        daqflow: bytes / actors,
        baseline: bare / actors,
        ratio: bytes / bare,
        unit: 'B',
        baselineLabel: 'bare snapshots + timers',
        target: '-',
        result: 'INFO',
      },
    ],
    notes: [
      `memory: ${actors} actors created through the ${options.store} store in ${fmt(createMs / 1000, 1)} s (${fmt(actors / (createMs / 1000))}/s, ${concurrency} in flight); RSS grew ${fmtMB(rssAfter - rssBefore)}`,
    ],
    details: {
      actors,
      store: options.store,
      concurrency,
      createMs,
      createsPerSecond: actors / (createMs / 1000),
      heapBefore,
      heapAfter,
      heapDeltaBytes: bytes,
      rssDeltaBytes: rssAfter - rssBefore,
      bareSnapshotsBytes: bare,
    },
  };
};
