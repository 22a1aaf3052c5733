/**
 * One grab run end to end, as the bench's `grab` rows measure it, and a script that runs one in a
 * process of its own so that its peak memory is its own:
 *
 *   node --import tsx bench/grabChild.ts --hours 24 [--parameters 100 --rate-hz 1 --chunk-seconds 3600]
 *        [--data-root DIR] [--store memory | --nats URL --stream NAME --subject-prefix PREFIX] [--probe]
 *
 * prints one JSON line on stdout: the run (samples, wall time, phases) and the process's memory
 * (`process.resourceUsage().maxRSS`, peaks of RSS / heap / external memory sampled every 20 ms,
 * the floor before the run). Progress and errors go to stderr. `--probe` loads and connects, and
 * reports the memory without running a grab.
 *
 * The run is real: an `ActorRuntime` hosting the grab-run actor, the real grab effects
 * (`createGrabEffects`: chunk work files, HDF5 assembly through h5wasm) and a simulator source,
 * with the `start` payload made by `prepareGrabStart` as the API makes it. Only the store varies:
 * JetStream (`--nats`, as the bench runs it) or the in-memory store (`--store memory`, no server;
 * note that it keeps every event in this process, about 2 KB per chunk).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getHeapStatistics } from 'node:v8';
import h5wasm from 'h5wasm/node';
import { grabRunActor } from '../actors/grabs/index.js';
import { defineActor } from '../actors/runtime/actorDefinition.js';
import { ActorRuntime } from '../actors/runtime/actorRuntime.js';
import { createSimulatorSource, type SimulatedParameter, type SimulatorSource } from '../adapters/dataLogger/simulator.js';
import { createGrabEffects } from '../adapters/jobs/grabs/grabEffects.js';
import { prepareGrabStart } from '../adapters/jobs/grabs/prepareGrabStart.js';
import { newId } from '../adapters/ids.js';
import { connectNats } from '../adapters/jetstream/connection.js';
import { createJetStreamEventStore } from '../adapters/jetstream/jetstreamEventStore.js';
import { EventSchemas } from '../events/eventSchemas.js';
import type { EventStore } from '../events/eventStore.js';
import { InMemoryEventStore } from '../events/inMemoryEventStore.js';

/** End of every bench window (a past midnight, so nothing depends on today's date). */
export const BENCH_WINDOW_STOP = '2026-11-21T00:00:00Z';

export const BENCH_SEED = 'daqflow-bench-grab';

const shapes = ['sine', 'ramp', 'noise', 'step'] as const;
const unitsCycle = ['V', 'mA', 'K', 'A', 'mm', undefined] as const;

/** Name of simulated parameter `i`: `BENCH:P000`, `BENCH:P001`, … */
export const benchParameterName = (i: number): string => `BENCH:P${String(i).padStart(3, '0')}`;

/**
 * `count` simulated parameters: sine, ramp, noise and step in turn, with different periods,
 * amplitudes and offsets, and uniform noise on every shape (so values are mostly distinct, as on
 * a real noisy channel, which is the expensive case for the exact mode); one in twenty has NaNs.
 */
export const benchParameters = (count: number): Record<string, SimulatedParameter> => {
  const parameters: Record<string, SimulatedParameter> = {};
  for (let i = 0; i < count; i++) {
    const shape = shapes[i % shapes.length]!;
    const amplitude = 1 + (i % 9) * 2.5;
    const units = unitsCycle[i % unitsCycle.length];
    parameters[benchParameterName(i)] = {
      shape,
      amplitude,
      offset: (i % 13) - 6,
      periodS: 30 + 17 * i,
      noise: shape === 'noise' ? 0 : amplitude * (0.001 + (i % 5) * 0.01),
      ...(i % 20 === 7 ? { nanEvery: 50 + i } : {}),
      ...(units === undefined ? {} : { units }),
    };
  }
  return parameters;
};

export interface GrabSpec {
  readonly parameters: number;
  readonly hours: number;
  readonly rateHz: number;
  readonly chunkSeconds: number;
}

/** The simulator every grab of the bench reads, and the window it reads. */
export const benchSource = (spec: GrabSpec): { source: SimulatorSource; start: Date; stop: Date } => {
  const source = createSimulatorSource({
    seed: BENCH_SEED,
    rateHz: spec.rateHz,
    parameters: benchParameters(spec.parameters),
    eventChannels: {},
  });
  const stop = new Date(BENCH_WINDOW_STOP);
  return { source, start: new Date(stop.getTime() - spec.hours * 3_600_000), stop };
};

/** Samples the window holds: every parameter at `rateHz`, no gaps in the bench's parameters. */
export const expectedSamples = (spec: GrabSpec): number => Math.round(spec.parameters * spec.hours * 3_600 * spec.rateHz);

export interface GrabRunResult {
  readonly id: string;
  readonly state: string;
  readonly samples: number;
  readonly chunks: number;
  /** Bytes of the chunk work files. */
  readonly workBytes: number;
  readonly outputFile: string | null;
  readonly fileBytes: number | null;
  /** `runtime.create` called → the actor seen completed. */
  readonly wallMs: number;
  /** `create` → the actor seen in `assembling` (every chunk written), and from there to the end. */
  readonly fetchMs: number;
  readonly assembleMs: number;
  readonly events: number;
  /** CPU microseconds of this process during the run. */
  readonly cpuUs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs one grab of `spec` through an `ActorRuntime` on `store`, writing into `dataRoot`, and
 * waits for it to finish (the runtime evicts an actor when it reaches a final state). Throws
 * unless it completed with every sample.
 */
export const runGrab = async (
  store: EventStore,
  spec: GrabSpec,
  dataRoot: string,
  options: { timeoutMs?: number } = {},
): Promise<GrabRunResult> => {
  const { source, stop } = benchSource(spec);
  mkdirSync(dataRoot, { recursive: true });
  const runtime = new ActorRuntime({
    store,
    schemas: new EventSchemas(),
    definitions: [defineActor(grabRunActor)],
    effects: { grab: createGrabEffects({ source, dataRoot }) },
    newId,
  });
  try {
    const payload = await prepareGrabStart(
      {
        parameters: source.parameters,
        stopAt: stop.toISOString(),
        window: { hours: spec.hours },
        chunkSeconds: spec.chunkSeconds,
        outDir: 'out',
        draftDir: 'drafts',
      },
      { source, dataRoot, timeZone: 'UTC', reference: new Date() },
    );
    const timeoutMs = options.timeoutMs ?? 30 * 60_000;
    const cpu = process.cpuUsage();
    const started = performance.now();
    const created = await runtime.create('grab', 'start', payload);
    // The actor is held while it runs and evicted when it reaches a final state: poll without I/O
    // (reading the run's events back would itself cost memory in proportion to the window).
    let assemblingAt: number | undefined;
    for (let snapshot = runtime.peek('grab', created.id); snapshot !== undefined; snapshot = runtime.peek('grab', created.id)) {
      if (assemblingAt === undefined && snapshot.value === 'assembling') assemblingAt = performance.now();
      if (performance.now() - started > timeoutMs) throw new Error(`grab ${created.id} still running after ${timeoutMs} ms`);
      await sleep(5);
    }
    const finishedAt = performance.now();
    const cpuUsed = process.cpuUsage(cpu);
    const view = await runtime.get('grab', created.id);
    const summary = view.summary as {
      outputFile: string | null;
      progress: { chunksDone: number; chunksTotal: number; samples: number; bytes: number };
      error?: string;
    };
    if (view.state !== 'completed') {
      throw new Error(`grab ${created.id} ended ${view.state}: ${summary.error ?? '(no error recorded)'}`);
    }
    const want = expectedSamples(spec);
    if (summary.progress.samples !== want) {
      throw new Error(`grab ${created.id} wrote ${summary.progress.samples} samples, expected ${want}`);
    }
    const fetchedAt = assemblingAt ?? finishedAt;
    return {
      id: created.id,
      state: view.state,
      samples: summary.progress.samples,
      chunks: summary.progress.chunksTotal,
      workBytes: summary.progress.bytes,
      outputFile: summary.outputFile,
      fileBytes: summary.outputFile === null ? null : (await stat(summary.outputFile)).size,
      wallMs: finishedAt - started,
      fetchMs: fetchedAt - started,
      assembleMs: finishedAt - fetchedAt,
      events: view.version,
      cpuUs: cpuUsed.user + cpuUsed.system,
    };
  } finally {
    // Lets the `discard` of the work folder (after fileWritten) finish.
    await runtime.stop(60_000);
  }
};

/** What the child prints: the run and this process's memory. Bytes. */
export interface GrabChildReport {
  readonly spec: GrabSpec;
  readonly store: 'jetstream' | 'memory';
  /** Null with `--probe`: the process loaded everything and connected, and ran nothing. */
  readonly run: GrabRunResult | null;
  /** Milliseconds from the process's start to the start of `main` (loading the modules). */
  readonly startupMs: number;
  /** `process.resourceUsage().maxRSS`: the peak resident set of the whole process. */
  readonly maxRss: number;
  /** RSS and heap used before the run (modules loaded, h5wasm ready, store connected). */
  readonly rssBefore: number;
  readonly heapBefore: number;
  /** Peaks sampled every 20 ms during the run (and once at its end). */
  readonly peakRss: number;
  readonly peakHeapUsed: number;
  readonly peakExternal: number;
  readonly peakArrayBuffers: number;
  readonly v8: { totalHeapSize: number; mallocedMemory: number; peakMallocedMemory: number };
}

const childOptions = (argv: readonly string[]) => {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      parameters: { type: 'string', default: '100' },
      hours: { type: 'string', default: '24' },
      'rate-hz': { type: 'string', default: '1' },
      'chunk-seconds': { type: 'string', default: '3600' },
      'data-root': { type: 'string' },
      store: { type: 'string', default: 'memory' },
      nats: { type: 'string' },
      stream: { type: 'string' },
      'subject-prefix': { type: 'string' },
      probe: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const positive = (flag: string, text: string): number => {
    const n = Number(text.replace(/_/g, ''));
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${flag} ${text}: expected a positive number`);
    return n;
  };
  const spec: GrabSpec = {
    parameters: positive('parameters', values.parameters),
    hours: positive('hours', values.hours),
    rateHz: positive('rate-hz', values['rate-hz']),
    chunkSeconds: positive('chunk-seconds', values['chunk-seconds']),
  };
  const store = values.nats !== undefined ? 'jetstream' : values.store;
  if (store !== 'memory' && store !== 'jetstream') throw new Error(`--store ${store}: expected memory, or give --nats`);
  if (store === 'jetstream' && (values.nats === undefined || values.stream === undefined || values['subject-prefix'] === undefined)) {
    throw new Error('a JetStream store needs --nats, --stream and --subject-prefix (the stream must exist)');
  }
  return { spec, store, probe: values.probe, dataRoot: values['data-root'], nats: values.nats, stream: values.stream, subjectPrefix: values['subject-prefix'] } as const;
};

const main = async (): Promise<number> => {
  const startupMs = performance.now();
  const options = childOptions(process.argv.slice(2));
  const ownRoot = options.dataRoot === undefined;
  const dataRoot = options.dataRoot ?? mkdtempSync(join(tmpdir(), 'daqflow-grab-child-'));
  let close = async (): Promise<void> => undefined;
  let store: EventStore;
  if (options.store === 'jetstream') {
    const nc = await connectNats(options.nats!, 'daqflow-bench-grab-child');
    const js = createJetStreamEventStore({ nc, stream: options.stream!, subjectPrefix: options.subjectPrefix! });
    store = js;
    close = async () => {
      await js.close();
      await nc.close();
    };
  } else {
    store = new InMemoryEventStore();
  }
  try {
    await h5wasm.ready;
    const before = process.memoryUsage();
    const peaks = { rss: before.rss, heapUsed: before.heapUsed, external: before.external, arrayBuffers: before.arrayBuffers };
    const sample = (): void => {
      const m = process.memoryUsage();
      peaks.rss = Math.max(peaks.rss, m.rss);
      peaks.heapUsed = Math.max(peaks.heapUsed, m.heapUsed);
      peaks.external = Math.max(peaks.external, m.external);
      peaks.arrayBuffers = Math.max(peaks.arrayBuffers, m.arrayBuffers);
    };
    const sampler = setInterval(sample, 20);
    let run: GrabRunResult | null = null;
    try {
      if (!options.probe) run = await runGrab(store, options.spec, dataRoot);
    } finally {
      clearInterval(sampler);
    }
    sample();
    const heap = getHeapStatistics();
    const report: GrabChildReport = {
      spec: options.spec,
      store: options.store,
      run,
      startupMs,
      maxRss: process.resourceUsage().maxRSS * 1024,
      rssBefore: before.rss,
      heapBefore: before.heapUsed,
      peakRss: peaks.rss,
      peakHeapUsed: peaks.heapUsed,
      peakExternal: peaks.external,
      peakArrayBuffers: peaks.arrayBuffers,
      v8: { totalHeapSize: heap.total_heap_size, mallocedMemory: heap.malloced_memory, peakMallocedMemory: heap.peak_malloced_memory },
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  } finally {
    await close();
    if (ownRoot) rmSync(dataRoot, { recursive: true, force: true });
  }
};

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main().catch((e: unknown) => {
    process.stderr.write(`grabChild: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  });
}
