// Records golden histories of an actor kind into test/fixtures/histories/<kind>/<name>.json.
// Run when a new scenario is worth keeping: `npx tsx test/tools/recordHistory.ts demo` (or schedule, grab, acquisition, report, notification).
// Existing files are never overwritten: a recorded history is a promise to keep accepting it.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { grabRunActor } from '../../actors/grabs/index.js';
import { notificationActor } from '../../actors/notifications/index.js';
import { channelConfigSchema } from '../../adapters/jobs/notifications/channelConfig.js';
import { createNotificationEffects } from '../../adapters/jobs/notifications/notificationEffects.js';
import { reportJobActor } from '../../actors/reports/index.js';
import { createDb } from '../../adapters/postgres/createDb.js';
import { migrateToLatest } from '../../adapters/postgres/migrate.js';
import { prepareReportStart } from '../../adapters/jobs/reports/prepareReportStart.js';
import { createReportEffects } from '../../adapters/jobs/reports/reportEffects.js';
import { daqflowBin, reportRunners } from '../../adapters/jobs/reports/reportRunners.js';
import pg from 'pg';
import { startBsreadSource, type BsreadSource } from '../../adapters/bsread/bsreadSource.js';
import { prepareAcquisitionStart } from '../../adapters/jobs/acquisitions/prepareAcquisitionStart.js';
import { defaultSimulatedChannels, startBsreadSimulator } from '../../adapters/bsread/bsreadSimulator.js';
import { defineActor } from '../../actors/runtime/actorDefinition.js';
import { ActorRuntime } from '../../actors/runtime/actorRuntime.js';
import type { DataLoggerSource } from '../../adapters/dataLogger/dataLoggerSource.js';
import { DataLoggerError } from '../../adapters/dataLogger/errors.js';
import { createSimulatorSource } from '../../adapters/dataLogger/simulator.js';
import { createGrabEffects } from '../../adapters/jobs/grabs/grabEffects.js';
import { prepareGrabStart } from '../../adapters/jobs/grabs/prepareGrabStart.js';
import { newId } from '../../adapters/ids.js';
import { EventSchemas } from '../../events/eventSchemas.js';
import { InMemoryEventStore } from '../../events/inMemoryEventStore.js';
import { createAcquisitionRuntime } from '../harness/acquisitionRuntime.js';
import { createDemoRuntime } from '../harness/demoRuntime.js';
import { clockFrom, createScheduleRuntime, scheduledDemo } from '../harness/scheduleRuntime.js';

/** Runs one scenario on its own store and returns the id of the actor whose history is kept. */
type Scenario = (store: InMemoryEventStore) => Promise<string>;

const until = async (check: () => Promise<boolean>): Promise<void> => {
  for (let i = 0; i < 1_000 && !(await check()); i++) await new Promise((r) => setTimeout(r, 5));
  if (!(await check())) throw new Error('scenario did not get there in time');
};

/** A demo scenario: started by `start`, then run until the job ends. */
const demo =
  (start: (runtime: ActorRuntime) => Promise<string>): Scenario =>
  async (store) => {
    const runtime = createDemoRuntime(store);
    const id = await start(runtime);
    for (let i = 0; i < 500 && !(await store.readLast('demo', id))?.final; i++) await new Promise((r) => setTimeout(r, 5));
    await runtime.stop(100);
    return id;
  };

const demoScenarios: Record<string, Scenario> = {
  completed: demo(async (runtime) => {
    const { id } = await runtime.create('demo', 'start', { steps: 3, intervalMs: 1, label: 'golden' }, { requestId: 'golden-completed' });
    await runtime.execute('demo', id, 'note', { text: 'a note while waiting' });
    return id;
  }),
  failed: demo(async (runtime) =>
    (await runtime.create('demo', 'start', { steps: 3, intervalMs: 1, failAtStep: 2 }, { requestId: 'golden-failed' })).id,
  ),
  cancelled: demo(async (runtime) => {
    const { id } = await runtime.create('demo', 'start', { steps: 3, intervalMs: 60_000 }, { requestId: 'golden-cancelled' });
    await runtime.execute('demo', id, 'cancel', { reason: 'operator asked' });
    return id;
  }),
};

const nightly = { name: 'nightly demo', cron: '0 1 * * *', timeZone: 'Europe/Zurich', target: scheduledDemo };
const summaryOf = async (store: InMemoryEventStore, id: string): Promise<Record<string, unknown>> =>
  (await store.readLast('schedule', id))?.summary ?? {};

/** Runs `steps` on a runtime whose clock starts at `clock`, then stops it (a process's lifetime). */
const during = async <T>(store: InMemoryEventStore, clock: () => Date, steps: (runtime: ActorRuntime) => Promise<T>): Promise<T> => {
  const runtime = createScheduleRuntime(store, { clock });
  await runtime.start();
  try {
    return await steps(runtime);
  } finally {
    await runtime.stop(100);
  }
};

const scheduleScenarios: Record<string, Scenario> = {
  // Down over a fire time, caught up once at restart, fired on time the next night, then
  // paused, resumed and removed.
  caughtUp: async (store) => {
    const { id } = await during(store, () => new Date('2025-03-28T12:00:00.000Z'), (runtime) =>
      runtime.create('schedule', 'create', nightly, { requestId: 'golden-caught-up' }),
    );
    // 00:59:59.8 Zurich summer time, two nights later: the 29th's fire is late, the 30th's (CEST) due.
    await during(store, clockFrom('2025-03-30T22:59:59.800Z'), async (runtime) => {
      await until(async () => (await summaryOf(store, id)).fires === 2);
      await runtime.execute('schedule', id, 'pause', {});
      await runtime.execute('schedule', id, 'resume', {});
      await runtime.execute('schedule', id, 'remove', { reason: 'golden history' });
    });
    return id;
  },
  // Down over a fire time with missed: skip; then a fire whose target refuses its payload.
  skippedAndFailed: async (store) => {
    const { id } = await during(store, () => new Date('2025-06-01T12:00:00.000Z'), (runtime) =>
      runtime.create(
        'schedule',
        'create',
        { ...nightly, timeZone: 'UTC', missed: 'skip', target: { ...scheduledDemo, payload: { steps: 0 } } },
        { requestId: 'golden-skipped' },
      ),
    );
    await during(store, clockFrom('2025-06-03T00:59:59.800Z'), async (runtime) => {
      await until(async () => (await summaryOf(store, id)).failures === 1);
      await runtime.execute('schedule', id, 'pause', {});
    });
    return id;
  },
};

/** A grab scenario: a runtime with the grab effects over the simulator (or `source`), in a temp data root. */
const grab =
  (start: (runtime: ActorRuntime, dataRoot: string) => Promise<string>, source?: DataLoggerSource): Scenario =>
  async (store) => {
    const dataRoot = mkdtempSync(join(tmpdir(), 'daqflow-golden-grab-'));
    const simulator = source ?? createSimulatorSource({ seed: 'golden', rateHz: 1 });
    const runtime = new ActorRuntime({
      store,
      schemas: new EventSchemas(),
      definitions: [defineActor(grabRunActor)],
      effects: { grab: createGrabEffects({ source: simulator, dataRoot }) },
      newId,
    });
    try {
      const id = await start(runtime, dataRoot);
      await until(async () => (await store.readLast('grab', id))?.final === true);
      return id;
    } finally {
      await runtime.stop(100);
      rmSync(dataRoot, { recursive: true, force: true });
    }
  };

const grabRequest = async (dataRoot: string, body: Record<string, unknown>, source?: DataLoggerSource) =>
  prepareGrabStart(body, {
    source: source ?? createSimulatorSource({ seed: 'golden', rateHz: 1 }),
    dataRoot,
    timeZone: 'UTC',
    reference: new Date('2026-11-22T05:00:00Z'),
  });

/** The simulator, answering UNAVAILABLE to the first `failures` requests for samples. */
const flaky = (failures: number): DataLoggerSource => {
  const inner = createSimulatorSource({ seed: 'golden', rateHz: 1 });
  let left = failures;
  return {
    name: 'flaky simulator',
    describe: (parameter, signal) => inner.describe(parameter, signal),
    fetchSamples(parameter, from, to, signal) {
      if (left-- > 0) throw new DataLoggerError('UNAVAILABLE', 'HTTP 503 (scripted)', { parameter });
      return inner.fetchSamples(parameter, from, to, signal);
    },
  };
};

const grabScenarios: Record<string, Scenario> = {
  // Two parameters, three chunks each, one retried 503 on the way.
  completedAfterRetry: (store) => {
    const source = flaky(1);
    return grab(async (runtime, dataRoot) => {
      const body = { parameters: ['SIM:SINE', 'SIM:NANS'], window: { minutes: 30 }, chunkSeconds: 600, outDir: 'out', retry: { initialDelayMs: 10 } };
      return (await runtime.create('grab', 'start', await grabRequest(dataRoot, body), { requestId: 'golden-grab-completed' })).id;
    }, source)(store);
  },
  failedAfterRetries: (store) => {
    const source = flaky(1_000);
    return grab(async (runtime, dataRoot) => {
      const body = { parameters: ['SIM:RAMP'], window: { minutes: 20 }, chunkSeconds: 600, retry: { maxAttempts: 3, initialDelayMs: 5, maxDelayMs: 10 } };
      return (await runtime.create('grab', 'start', await grabRequest(dataRoot, body), { requestId: 'golden-grab-failed' })).id;
    }, source)(store);
  },
  cancelled: grab(async (runtime, dataRoot) => {
    const body = { parameters: ['SIM:STEP'], window: { hours: 2 }, chunkSeconds: 600 };
    const { id } = await runtime.create('grab', 'start', await grabRequest(dataRoot, body), { requestId: 'golden-grab-cancelled' });
    await runtime.execute('grab', id, 'cancel', { reason: 'operator asked' });
    return id;
  }),
  events: grab(async (runtime, dataRoot) => {
    const body = { mode: 'events', maxEvt: 3, window: { minutes: 5 }, chunkSeconds: 300, firstOnly: true };
    return (await runtime.create('grab', 'start', await grabRequest(dataRoot, body), { requestId: 'golden-grab-events' })).id;
  }),
};

/** What an acquisition scenario gets: a runtime with the acquisition effects, the request preparer, the stream's buffer. */
interface AcquisitionSetup {
  readonly runtime: ActorRuntime;
  readonly prepare: (body: Record<string, unknown>) => Promise<unknown>;
  readonly source: BsreadSource;
  /** Another runtime on the same store and stream whose writer names `node` (a process on that node). */
  readonly writerOn: (node: string) => ActorRuntime;
}

/**
 * An acquisition scenario: a simulated stream over ZeroMQ loopback (gaps at `gaps`), its buffer of
 * `bufferLength` pulses, the acquisition effects, a temp data root; done when the acquisition ends.
 */
const acquisition =
  (start: (setup: AcquisitionSetup) => Promise<string>, { gaps = [1_105], bufferLength = 100 } = {}): Scenario =>
  async (store) => {
    const dataRoot = mkdtempSync(join(tmpdir(), 'daqflow-golden-acquisition-'));
    const sim = await startBsreadSimulator({
      address: 'tcp://127.0.0.1:*',
      rateHz: 200,
      startPulseId: 1_000,
      channels: defaultSimulatedChannels({ imageWidth: 8, imageHeight: 4, waveformLength: 8 }),
      gaps,
    });
    const source = startBsreadSource({ address: sim.address, mode: 'pull', bufferLength });
    const runtimes = [createAcquisitionRuntime(store, source, dataRoot)];
    const writerOn = (node: string): ActorRuntime => {
      const identity = () => ({ node, process: `${node}-golden`, stream: { address: sim.address, mode: 'pull' as const } });
      runtimes.push(createAcquisitionRuntime(store, source, dataRoot, { identity }));
      return runtimes.at(-1)!;
    };
    try {
      const prepare = (body: Record<string, unknown>) => prepareAcquisitionStart(body, { source, dataRoot });
      const id = await start({ runtime: runtimes[0]!, prepare, source, writerOn });
      await until(async () => (await store.readLast('acquisition', id))?.final === true);
      return id;
    } finally {
      for (const runtime of runtimes) await runtime.stop(100);
      await source.close();
      await sim.stop();
      rmSync(dataRoot, { recursive: true, force: true });
    }
  };

const acquisitionScenarios: Record<string, Scenario> = {
  // Pulses 1,050..1,150 with a gap at 1,105, progress on the way, then a stop earlier than asked.
  completed: acquisition(async ({ runtime, prepare }) => {
    const { id } = await runtime.create('acquisition', 'start', await prepare({ outputFile: 'run.h5', startPulseId: 1_050, stopPulseId: 1_300 }));
    await until(async () => ((await runtime.get('acquisition', id)).summary['pulsesWritten'] as number) > 40);
    await runtime.execute('acquisition', id, 'stop', { stopPulseId: 1_150 });
    return id;
  }),
  killed: acquisition(async ({ runtime, prepare }) => {
    const { id } = await runtime.create('acquisition', 'start', await prepare({ outputFile: 'killed.h5', startNow: true }));
    await until(async () => (await runtime.get('acquisition', id)).state === 'writing');
    await runtime.execute('acquisition', id, 'kill', { reason: 'operator asked' });
    return id;
  }),
  stoppedNow: acquisition(async ({ runtime, prepare }) => {
    const { id } = await runtime.create('acquisition', 'start', await prepare({ outputFile: 'now.h5', startNow: true }));
    await until(async () => ((await runtime.get('acquisition', id)).summary['pulsesWritten'] as number) > 10);
    await runtime.execute('acquisition', id, 'stop', { now: true });
    return id;
  }),
  // Asked for pulse 1,000 after the buffer of 100 moved past it: refused by the effect, not skipped.
  startPulseGone: acquisition(async ({ runtime, source }) => {
    await until(async () => (source.buffer.counters().oldestPulseId ?? 0) > 1_000);
    const { id } = await runtime.create('acquisition', 'start', {
      outputFile: join(tmpdir(), 'never-written.h5'),
      startPulseId: 1_000,
      stopPulseId: null,
      channels: null,
      general: { instrument: 'golden', process: 'daqflow', user: 'golden' },
    });
    return id;
  }),
  // Named node b; its writer's runtime stops mid-file, and another (node a, same stream) takes it
  // over: a second `started` names the new writer, which rewrites the draft and completes it.
  takenOver: acquisition(
    async ({ prepare, source, writerOn }) => {
      const first = writerOn('b');
      // Pulses as they come: the first writer is mid-file when it stops.
      await until(async () => Promise.resolve(source.buffer.counters().newestPulseId !== null));
      const { id } = await first.create('acquisition', 'start', await prepare({ outputFile: 'taken-over.h5', startNow: true, node: 'b' }));
      await until(async () => ((await first.get('acquisition', id)).summary['pulsesWritten'] as number) > 20);
      await first.stop(100);
      const second = writerOn('a');
      await second.start();
      const firstPulseId = (await second.get('acquisition', id)).summary['firstPulseId'] as number;
      await second.execute('acquisition', id, 'stop', { stopPulseId: firstPulseId + 100 });
      return id;
    },
    { gaps: [], bufferLength: 1_000 },
  ),
};

/** A report scenario: the local runner, a temp data root, and a fresh database migrated on the local PostgreSQL. */
const report =
  (start: (runtime: ActorRuntime, prepare: (body: Record<string, unknown>) => Promise<unknown>) => Promise<string>): Scenario =>
  async (store) => {
    const dataRoot = mkdtempSync(join(tmpdir(), 'daqflow-golden-report-'));
    const admin = process.env['DAQFLOW_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
    const name = `golden_${Date.now()}`;
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    await client.query(`create database ${name}`);
    const url = new URL(admin);
    url.pathname = `/${name}`;
    const db = createDb(url.toString());
    await migrateToLatest(db);
    const runtime = new ActorRuntime({
      store,
      schemas: new EventSchemas(),
      definitions: [defineActor(reportJobActor)],
      effects: {
        report: createReportEffects({
          db,
          runners: reportRunners({ dataRootDir: dataRoot, localJobs: 2 }),
          renderCommand: [process.execPath, daqflowBin, 'report', 'render-job'],
        }),
      },
      newId,
    });
    try {
      const id = await start(runtime, (body) =>
        prepareReportStart(body, { dataRoot, timeZone: 'UTC', reference: new Date('2026-11-22T05:00:00Z') }),
      );
      for (let i = 0; i < 600 && !(await store.readLast('report', id))?.final; i++) await new Promise((r) => setTimeout(r, 100));
      return id;
    } finally {
      await runtime.stop(100);
      await db.destroy();
      await client.query(`drop database ${name} with (force)`);
      await client.end();
      rmSync(dataRoot, { recursive: true, force: true });
    }
  };

const reportConfig = (detectors: Record<string, Record<string, unknown>>, global: Record<string, unknown> = {}) => ({
  global: { title: 'golden', outFolder: 'reports', jobUpdateIntervalSeconds: 1, jobTimeoutSeconds: 60, range: { last: '2d' }, ...global },
  instruments: { SIM: { detectors } },
});
const writes = ['sh', '-c', 'echo ok > "$DAQFLOW_REPORT_OUT/ok.txt"'];

const reportScenarios: Record<string, Scenario> = {
  // One job plots (no statistics: "no data"), one runs its own command, one exits 3: completed with the failure listed.
  completed: report(async (runtime, prepare) => {
    const config = reportConfig({ plots: { parameters: ['SIM:SINE'] }, own: { parameters: ['SIM:RAMP'], command: writes }, broken: { parameters: ['SIM:STEP'], command: ['sh', '-c', 'exit 3'] } });
    return (await runtime.create('report', 'start', await prepare({ mode: 'local', config }), { requestId: 'golden-report-completed' })).id;
  }),
  failed: report(async (runtime, prepare) => {
    const config = reportConfig({ broken: { parameters: ['SIM:STEP'], command: ['sh', '-c', 'exit 3'] } });
    return (await runtime.create('report', 'start', await prepare({ mode: 'sim', config }), { requestId: 'golden-report-failed' })).id;
  }),
  timedOut: report(async (runtime, prepare) => {
    const config = reportConfig({ slow: { parameters: ['SIM:STEP'], command: ['sleep', '60'] } }, { jobTimeoutSeconds: 2 });
    return (await runtime.create('report', 'start', await prepare({ mode: 'sim', config }), { requestId: 'golden-report-timed-out' })).id;
  }),
  cancelled: report(async (runtime, prepare) => {
    const config = reportConfig({ slow: { parameters: ['SIM:STEP'], command: ['sleep', '60'] } });
    const { id } = await runtime.create('report', 'start', await prepare({ mode: 'sim', config }), { requestId: 'golden-report-cancelled' });
    await until(async () => (await runtime.get('report', id)).state === 'running');
    await runtime.execute('report', id, 'cancel', { reason: 'operator asked' });
    return id;
  }),
};

/** A notification scenario: a loopback webhook answering the scripted statuses, then 200. */
const notification = (statuses: number[], maxAttempts: number): Scenario => async (store) => {
  const { createServer } = await import('node:http');
  const answers = [...statuses];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(answers.shift() ?? 200).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
  try {
    const runtime = new ActorRuntime({
      store,
      schemas: new EventSchemas(),
      definitions: [defineActor(notificationActor)],
      effects: { notification: createNotificationEffects({ channels: () => ({ chat: channelConfigSchema.parse({ type: 'mattermost', url }) }) }) },
      newId,
    });
    await runtime.start();
    const { id } = await runtime.create(
      'notification',
      'request',
      {
        rule: 'trouble',
        channel: 'chat',
        trigger: { kind: 'grab', id: 'golden-grab', state: 'failed', position: 12, time: '2026-12-06T06:00:00.000Z' },
        message: { title: 'daqflow: grab golden-grab FAILED', fields: [{ name: 'error', value: 'REFUSED: 400' }], link: null, event: null },
        maxAttempts,
        initialDelayMs: 20,
        maxDelayMs: 40,
      },
      { requestId: `golden-notification-${statuses.join('-')}-${maxAttempts}` },
    );
    await until(async () => (await runtime.get('notification', id)).final);
    await runtime.stop();
    return id;
  } finally {
    server.close();
  }
};

const notificationScenarios: Record<string, Scenario> = {
  sentAfterRetries: notification([500, 503], 5),
  gaveUp: notification([500, 500, 500], 3),
  refused: notification([404], 5),
};

const byKind: Record<string, { kind: string; scenarios: Record<string, Scenario> }> = {
  notification: { kind: 'notification', scenarios: notificationScenarios },
  report: { kind: 'report', scenarios: reportScenarios },
  acquisition: { kind: 'acquisition', scenarios: acquisitionScenarios },
  demo: { kind: 'demo', scenarios: demoScenarios },
  schedule: { kind: 'schedule', scenarios: scheduleScenarios },
  grab: { kind: 'grab', scenarios: grabScenarios },
};

const kind = process.argv[2] ?? 'demo';
const chosen = byKind[kind];
if (!chosen) throw new Error(`no scenarios for kind ${kind} (known: ${Object.keys(byKind).join(', ')})`);
const folder = join('test', 'fixtures', 'histories', kind);
mkdirSync(folder, { recursive: true });
for (const [name, scenario] of Object.entries(chosen.scenarios)) {
  const file = join(folder, `${name}.json`);
  if (existsSync(file)) continue;
  const store = new InMemoryEventStore();
  const id = await scenario(store);
  const events = await store.readStream(chosen.kind, id);
  const last = events.at(-1);
  writeFileSync(file, `${JSON.stringify({ kind, id, finalState: last?.state, events }, null, 2)}\n`);
  console.log(`recorded ${file}: ${events.length} events, ends ${last?.state}`);
}
