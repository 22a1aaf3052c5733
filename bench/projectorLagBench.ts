import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { demoActor } from '../actors/demo/index.js';
import { allActorDefinitions } from '../adapters/jobs/registry.js';
import { ActorRuntime } from '../actors/runtime/actorRuntime.js';
import { createDemoEffects } from '../adapters/jobs/demo/demoEffects.js';
import { newId } from '../adapters/ids.js';
import { closeNats, connectNats } from '../adapters/jetstream/connection.js';
import { createJetStreamEventStore } from '../adapters/jetstream/jetstreamEventStore.js';
import { createDb } from '../adapters/postgres/createDb.js';
import { EventSchemas } from '../events/eventSchemas.js';
import type { EventStore } from '../events/eventStore.js';
import { startProjectorThread } from '../adapters/app/projectorThread.js';
import { startProjector, type Projector } from '../projections/projector.js';
import { allProjections } from '../adapters/jobs/registry.js';
import { demoHistories, interleave, recorded } from './history.js';
import { rawUpsertRate } from './rebuildBench.js';
import type { BenchRow, Log, Measured } from './result.js';
import { deleteStream, freshStreamNames, recreateStream, type BenchServers } from './servers.js';
import { fmt, largest, median, quantile } from './stats.js';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Where the projector runs: beside the runtime on its event loop (`DAQFLOW_PROJECTOR=inline`),
 * on a worker thread of the runtime's process (`thread`, what `daqflow up` does), or in a
 * process of its own.
 */
export type ProjectorPlacement = 'shared' | 'thread' | 'own';

export interface ProjectorLagOptions {
  /** Target event rates of the job traffic, events per second. */
  readonly rates: readonly number[];
  readonly placements: readonly ProjectorPlacement[];
  /** Length of each measured window. */
  readonly seconds: number;
}

/** Demo steps are due every this many ms; a step is two events (tickDue, stepDone). */
const INTERVAL_MS = 20;
/** Traffic before the measured window, so the window starts in the steady state. */
const WARM_UP_MS = 3_000;
/** How long the projector may take after the traffic stops to hold the window's events. */
const CATCH_UP_MS = 60_000;
/** How often the checkpoint is read: the lag figures are this coarse. */
const POLL_MS = 20;

interface LagRun {
  readonly rate: number;
  readonly placement: ProjectorPlacement;
  readonly jobs: number;
  /** Whether the projector held every event of the window within CATCH_UP_MS of its end. */
  readonly caughtUp: boolean;
  /** Events appended per second inside the window. */
  readonly achieved: number;
  readonly events: number;
  /** Per event: commit of the checkpoint covering it minus the append's acknowledgement, ms. */
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /**
   * Median of the events appended but not yet projected, over the polls of the first and the
   * last fifth of the window: a growing lag shows here (the per-event lag of the last events
   * shrinks once the traffic stops, so it cannot show it).
   */
  readonly firstFifthBehind: number;
  readonly lastFifthBehind: number;
  /** Most events appended but not yet projected at one poll. */
  readonly maxBehind: number;
  readonly batches: { count: number; events: number; ms: number };
  readonly loadAverage: number;
}

/** Every append's position and the time its acknowledgement arrived. */
const timedStore = (store: EventStore, appended: Array<{ position: number; at: number }>): EventStore =>
  Object.assign(Object.create(store) as EventStore, {
    append: async (...args: Parameters<EventStore['append']>) => {
      const result = await store.append(...args);
      appended.push({ position: result.position, at: performance.now() });
      return result;
    },
  });

/** Starts the projector child; resolves once it says it has started (loading through tsx takes seconds). */
const startChild = (servers: BenchServers, names: { stream: string; subjectPrefix: string }, log: Log): Promise<ChildProcess> => {
  let loader = 'tsx';
  try {
    loader = import.meta.resolve('tsx');
  } catch {
    // Resolved by node from the working directory instead.
  }
  const child = spawn(
    process.execPath,
    [
      '--import',
      loader,
      join(here, 'projectorChild.ts'),
      ...['--nats', servers.nats.url, '--stream', names.stream, '--subject-prefix', names.subjectPrefix, '--db', servers.dbUrl],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((ready, fail) => {
    child.stderr?.on('data', (d: Buffer) => {
      const text = d.toString();
      if (text.includes('projector child: started')) ready(child);
      else log(`  projector child: ${text.trimEnd()}`);
    });
    child.on('exit', (code) => fail(new Error(`the projector child exited with ${code} before it started`)));
  });
};

const stopChild = (child: ChildProcess): Promise<LagRun['batches']> =>
  new Promise((done, fail) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', () => {
      try {
        done((JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { batches: LagRun['batches'] }).batches);
      } catch (e) {
        fail(new Error(`projector child said ${JSON.stringify(out)}`, { cause: e }));
      }
    });
    child.kill('SIGTERM');
  });

const runOnce = async (
  servers: BenchServers,
  rate: number,
  placement: ProjectorPlacement,
  seconds: number,
  log: Log,
): Promise<LagRun> => {
  const names = freshStreamNames('lag');
  await recreateStream(servers.jsm, names);
  await sql`truncate actor_status, actor_transition, grab_statistics, projection_checkpoint`.execute(servers.db);
  const nc = await connectNats(servers.nats.url, 'daqflow-bench-runtime');
  const schemas = new EventSchemas();
  for (const definition of allActorDefinitions) schemas.register(definition.kind, definition.eventSchemas);
  const store = createJetStreamEventStore({ nc, ...names, schemas });
  const appended: Array<{ position: number; at: number }> = [];
  const runtime = new ActorRuntime({
    store: timedStore(store, appended),
    schemas,
    definitions: allActorDefinitions.filter((d) => d.kind === demoActor.kind),
    effects: { demo: createDemoEffects() },
    newId,
  });
  const db = createDb(servers.dbUrl, { max: 4 });
  const batches = { count: 0, events: 0, ms: 0 };
  const child = placement === 'own' ? await startChild(servers, names, log) : undefined;
  const projector: Projector | undefined =
    placement === 'thread'
      ? startProjectorThread({ nats: { servers: servers.nats.url }, databaseUrl: servers.dbUrl, ...names }, {
          info: () => undefined,
          warn: (obj, msg) => log(`  projector thread: ${msg} ${JSON.stringify(obj)}`),
          error: (obj, msg) => log(`  projector thread: ${msg} ${JSON.stringify(obj)}`),
        })
      : placement === 'shared'
      ? startProjector({
          db,
          store,
          projections: allProjections,
          onBatch: (b) => {
            batches.count++;
            batches.events += b.applied;
            batches.ms += b.ms;
          },
        })
      : undefined;

  // A step is two events; the runtime's own time per step makes a job slower than one step per
  // interval, so the job count is set from the rate measured as the jobs start.
  const jobs = Math.max(1, Math.round(rate / 50));
  const steps = Math.ceil(((seconds * 1000 + WARM_UP_MS) / INTERVAL_MS) * 1.5);
  const polls: Array<{ at: number; checkpoint: number; last: number }> = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      // A read that fails (PostgreSQL too busy to connect) is a sample missed, not the end of the run.
      const row = await db
        .selectFrom('projection_checkpoint')
        .select('position')
        .executeTakeFirst()
        .then(
          (r) => ({ position: r?.position ?? 0 }),
          () => undefined,
        );
      if (row) polls.push({ at: performance.now(), checkpoint: row.position, last: appended.at(-1)?.position ?? 0 });
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  })();
  const release = async (): Promise<void> => {
    polling = false;
    await poller;
    await runtime.stop(1_000);
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await projector?.stop();
    await store.close();
    await closeNats(nc);
    await db.destroy();
    await deleteStream(servers.jsm, names);
  };
  let windowStart = 0;
  let windowEnd = 0;
  let firstIndex = 0;
  let lastIndex = 0;
  let loadAverage = 0;
  let caughtUp = false;
  let childBatches: LagRun['batches'] | undefined;
  // A run that fails part-way must not leave its projector writing into the next run's tables.
  try {
    // A projector on a thread or in a process takes seconds to load: the traffic starts once a
    // first event has gone through it.
    const first = await runtime.create('demo', 'start', { steps: 1, intervalMs: 0, label: 'lag bench: projector ready' });
    const readyBy = performance.now() + 60_000;
    while ((polls.at(-1)?.checkpoint ?? 0) < first.position) {
      if (performance.now() > readyBy) {
        await release();
        throw new Error('the projector did not start within 60 s');
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    await Promise.all(
      Array.from({ length: jobs }, () => runtime.create('demo', 'start', { steps, intervalMs: INTERVAL_MS, label: 'lag bench' })),
    );
    await new Promise((r) => setTimeout(r, WARM_UP_MS));
    windowStart = performance.now();
    firstIndex = appended.length;
    await new Promise((r) => setTimeout(r, seconds * 1000));
    windowEnd = performance.now();
    lastIndex = appended.length;
    loadAverage = os.loadavg()[0]!;
    await runtime.stop(1_000);
    // Everything of the window must be projected before the figures can be read.
    const lastOfWindow = largest(appended.slice(firstIndex, lastIndex).map((a) => a.position));
    const caughtUpBy = performance.now() + CATCH_UP_MS;
    while ((polls.at(-1)?.checkpoint ?? 0) < lastOfWindow && performance.now() < caughtUpBy) {
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    caughtUp = (polls.at(-1)?.checkpoint ?? 0) >= lastOfWindow;
    polling = false;
    await poller;
    childBatches = child ? await stopChild(child) : undefined;
    await projector?.stop();
    await store.close();
    await closeNats(nc);
    await db.destroy();
    await deleteStream(servers.jsm, names);
  } catch (e) {
    await release().catch(() => undefined);
    throw e;
  }

  // The first poll whose checkpoint covers a position (checkpoints only grow); never for one the
  // projector had not reached when the bench stopped waiting.
  const projectedAt = (position: number): number => {
    if ((polls.at(-1)?.checkpoint ?? 0) < position) return Infinity;
    let lo = 0;
    let hi = polls.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (polls[mid]!.checkpoint >= position) hi = mid;
      else lo = mid + 1;
    }
    return polls[lo]!.at;
  };
  const inWindow = appended.slice(firstIndex, lastIndex);
  const lags = inWindow.map((a) => Math.max(0, projectedAt(a.position) - a.at));
  const windowPolls = polls.filter((p) => p.at >= windowStart && p.at <= windowEnd);
  const behind = windowPolls.map((p) => Math.max(0, p.last - p.checkpoint));
  const fifth = Math.max(1, Math.floor(behind.length / 5));
  return {
    rate,
    placement,
    jobs,
    caughtUp,
    achieved: inWindow.length / ((windowEnd - windowStart) / 1000),
    events: inWindow.length,
    p50: quantile(lags, 0.5),
    p99: quantile(lags, 0.99),
    max: largest(lags),
    firstFifthBehind: median(behind.slice(0, fifth)),
    lastFifthBehind: median(behind.slice(-fifth)),
    maxBehind: Math.max(0, largest(behind)),
    batches: childBatches ?? batches,
    loadAverage,
  };
};

/** A backlog that ends the window more than this many seconds of traffic above where it started is growing. */
const GROWTH_SECONDS = 0.25;

/**
 * The live projector's lag behind real job traffic (demo jobs through the actor runtime on
 * JetStream), with the projector beside the runtime and in a process of its own, beside the raw
 * batched upsert rate of the same PostgreSQL.
 */
export const runProjectorLagBench = async (servers: BenchServers, options: ProjectorLagOptions, log: Log): Promise<Measured> => {
  const rawEvents = recorded(interleave(demoHistories(1_000, 20)));
  const rawRate = await rawUpsertRate(servers, rawEvents, 1_000, 1);
  log(`projectorLag: raw batched upsert ${Math.round(rawRate)} ev/s`);
  const runs: LagRun[] = [];
  const failures: string[] = [];
  for (const rate of options.rates) {
    for (const placement of options.placements) {
      log(`projectorLag: ${rate} ev/s, projector ${{ shared: 'beside the runtime', thread: 'on its own thread', own: 'in its own process' }[placement]}, ${options.seconds} s`);
      let run: LagRun;
      try {
        run = await runOnce(servers, rate, placement, options.seconds, log);
      } catch (e) {
        // One placement that cannot run (a projector that does not start on a swamped machine)
        // must not cost the others their rows.
        const message = e instanceof Error ? e.message : String(e);
        log(`projectorLag:   FAILED: ${message}`);
        failures.push(`projector lag ${placement} at ${rate} ev/s asked: FAILED: ${message} (load ${os.loadavg()[0]!.toFixed(2)})`);
        continue;
      }
      runs.push(run);
      log(
        `projectorLag:   ${Math.round(run.achieved)} ev/s from ${run.jobs} jobs; lag p50 ${fmt(run.p50)} ms, p99 ${fmt(run.p99)} ms, max ${fmt(run.max)} ms; ` +
          `${run.batches.count} batches of ${fmt(run.batches.events / Math.max(1, run.batches.count), 1)} events, ${fmt(run.batches.ms / Math.max(1, run.batches.count), 1)} ms each; load ${run.loadAverage.toFixed(2)}`,
      );
    }
  }
  const rawAfter = await rawUpsertRate(servers, rawEvents, 1_000, 2);
  const rows: BenchRow[] = [];
  for (const run of runs) {
    const where = { shared: 'beside runtime', thread: 'own thread', own: 'own process' }[run.placement];
    const growing = !run.caughtUp || run.lastFifthBehind > run.firstFifthBehind + GROWTH_SECONDS * run.achieved;
    const target = run.rate <= 2_000 ? 'p99 < 250 ms' : 'not growing';
    const pass = run.rate <= 2_000 ? run.p99 < 250 && !growing : !growing;
    rows.push({
      key: `projectorLag.${run.rate}.${run.placement}`,
      measurement: `projector lag p99, ${fmt(run.achieved)} ev/s (${fmt(run.rate)} asked), ${where}`,
      daqflow: run.p99,
      baseline: null,
      ratio: null,
      unit: 'ms',
      baselineLabel: '',
      target,
      result: pass ? 'PASS' : 'MISS',
    });
  }
  rows.push({
    key: 'projectorLag.rawUpsert',
    measurement: '  raw batched upsert (1,000 events a transaction)',
    daqflow: median([rawRate, rawAfter]),
    baseline: null,
    ratio: null,
    unit: 'ev/s',
    baselineLabel: '',
    target: '-',
    result: 'INFO',
  });
  return {
    rows,
    notes: [...failures, ...runs.map(
      (r) =>
        `${r.caughtUp ? '' : `NOT CAUGHT UP within ${CATCH_UP_MS / 1000} s after the traffic: `}projector lag ${r.placement} at ${fmt(r.achieved)} ev/s: p50 ${fmt(r.p50)} / p99 ${fmt(r.p99)} / max ${fmt(r.max)} ms, ` +
        `events behind: median of first/last fifth ${fmt(r.firstFifthBehind)}/${fmt(r.lastFifthBehind)}, max ${fmt(r.maxBehind)}, ` +
        `${fmt(r.batches.count)} batches of ${fmt(r.batches.events / Math.max(1, r.batches.count), 1)} events (${fmt(r.batches.ms / Math.max(1, r.batches.count), 1)} ms), load ${r.loadAverage.toFixed(2)}`,
    )],
    details: { runs, rawUpsertRates: [rawRate, rawAfter], pollMs: POLL_MS, warmUpMs: WARM_UP_MS },
  };
};
