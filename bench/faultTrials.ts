/**
 * Fault trials, run as an operator would run them and repeated: `npm run bench:faults`.
 *
 * - postgres: `daqflow up` on NATS and a PostgreSQL of the trial's own, 20 demo jobs running,
 *   the PostgreSQL stopped (fast shutdown) for 10 s and started again; the trial passes when the
 *   process lives, every job completes and the projections equal the stream.
 * - ctrl-c: `daqflow up` on the embedded default (or on external servers), the demo run beside
 *   it, then SIGINT to its process group as a terminal's Ctrl-C; passes when it exits 0 within
 *   10 s and nothing it started is left running.
 *
 * Prints a table per trial kind with the time each took; exit code 0 unless a trial failed.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { parseArgs } from 'node:util';
import { eventSubjectPrefix } from '../adapters/app/startDaqflow.js';
import { createDb } from '../adapters/postgres/createDb.js';
import { createJetStreamEventStore } from '../adapters/jetstream/index.js';
import type { RecordedEvent } from '../events/envelope.js';
import { readCheckpoint } from '../projections/checkpoints.js';
import { DEFAULT_PROJECTOR_NAME } from '../projections/projector.js';
import { killAllDaqflowProcesses, runCli, startDaqflowProcess } from '../test/harness/daqflowProcess.js';
import { startOwnPostgres } from '../test/harness/ownPostgres.js';
import { childrenOf, isAlive, killProcessesMentioning, processesMentioning } from '../test/harness/processTable.js';
import { uniqueToken } from '../test/harness/testNames.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const { values: args } = parseArgs({
  options: {
    trials: { type: 'string', default: '10' },
    only: { type: 'string', default: 'postgres,ctrl-c-embedded,ctrl-c-external' },
    'nats-url': { type: 'string', default: 'nats://127.0.0.1:4222' },
    'outage-s': { type: 'string', default: '10' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  process.stdout.write(`npm run bench:faults -- [--trials N] [--only postgres,ctrl-c-embedded,ctrl-c-external] [--nats-url URL] [--outage-s S]
  postgres          daqflow up with 20 demo jobs, its PostgreSQL stopped for --outage-s and started again
  ctrl-c-embedded   daqflow up on the embedded default, the demo, then Ctrl-C (SIGINT to the process group)
  ctrl-c-external   the same on --nats-url and a PostgreSQL of the trial's own
`);
  process.exit(0);
}
const trials = Number(args.trials);
const only = new Set(args.only.split(','));
const natsUrl = args['nats-url'];
const outageMs = Number(args['outage-s']) * 1_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const home = (name: string): string => {
  const dir = mkdtempSync(join(tmpdir(), `daqflow-trial-${name}-`));
  chmodSync(dir, 0o755);
  return dir;
};

const until = async <T>(what: string, check: () => Promise<T | undefined>, ms: number): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(250);
  }
};

const readStream = async (nc: NatsConnection, stream: string, prefix: string): Promise<RecordedEvent[]> => {
  const store = createJetStreamEventStore({ nc, stream, subjectPrefix: eventSubjectPrefix({ subjectPrefix: prefix }) });
  const events: RecordedEvent[] = [];
  for await (const batch of store.readAll({ batchSize: 1_000 })) events.push(...batch);
  return events;
};

interface Row {
  readonly trial: number;
  readonly ok: boolean;
  readonly detail: string;
}

const postgresTrial = async (nc: NatsConnection, trial: number): Promise<Row> => {
  const postgres = await startOwnPostgres(`trial-${trial}`);
  const dir = home('pg');
  const token = uniqueToken();
  const stream = `TRIAL_${token}`;
  const prefix = `trial_${token}`;
  try {
    const daqflow = await startDaqflowProcess({
      env: { DAQFLOW_NATS_URL: natsUrl, DAQFLOW_DATABASE_URL: postgres.url, DAQFLOW_HOME: dir, DAQFLOW_STREAM: stream, DAQFLOW_SUBJECT_PREFIX: prefix },
    });
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const reply = await nc.request(`${prefix}.demo.start`, JSON.stringify({ steps: 40, intervalMs: 500 }), { timeout: 10_000 });
      ids.push((reply.json() as { id: string }).id);
    }
    await sleep(3_000);
    const stopped = Date.now();
    await postgres.stop();
    const duringOutage = await nc.request(`${prefix}.query.list`, JSON.stringify({ limit: 1 }), { timeout: 10_000 });
    const refusedWith = (duringOutage.json() as { error?: { code?: string } }).error?.code ?? 'answered';
    await sleep(Math.max(0, outageMs - (Date.now() - stopped)));
    await postgres.start();
    const events = await until(
      'every job to complete',
      async () => {
        const all = await readStream(nc, stream, prefix);
        const finals = new Set(all.filter((e) => e.final && e.state === 'completed').map((e) => e.actorId));
        return ids.every((id) => finals.has(id)) ? all : undefined;
      },
      60_000,
    );
    const last = events[events.length - 1]?.position ?? 0;
    const db = createDb(postgres.url, { max: 1 });
    let equal = false;
    try {
      await until('the projector to catch up', async () => ((await readCheckpoint(db, DEFAULT_PROJECTOR_NAME)) === last ? true : undefined), 30_000);
      const rows = await db.selectFrom('actor_status').select(['id', 'version', 'state']).execute();
      const newest = new Map<string, RecordedEvent>();
      for (const e of events) newest.set(e.actorId, e);
      equal = rows.length === newest.size && rows.every((r) => newest.get(r.id)?.version === Number(r.version) && newest.get(r.id)?.state === r.state);
    } finally {
      await db.destroy();
    }
    const alive = daqflow.child.exitCode === null;
    const unhandled = daqflow.stderr().includes('unhandled failure');
    daqflow.kill('SIGTERM');
    const exit = await daqflow.exited;
    const ok = alive && !unhandled && equal && refusedWith === 'STORE_UNAVAILABLE' && exit.code === 0;
    return {
      trial,
      ok,
      detail: `alive ${alive}, query during outage ${refusedWith}, ${ids.length}/20 jobs completed, ${events.length} events, projections equal ${equal}, unhandled ${unhandled}, exit ${exit.code}`,
    };
  } finally {
    await killAllDaqflowProcesses();
    await postgres.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
};

const ctrlCTrial = async (trial: number, external: boolean): Promise<Row> => {
  const dir = home(external ? 'external' : 'embedded');
  const postgres = external ? await startOwnPostgres(`ctrl-c-${trial}`) : undefined;
  const token = uniqueToken();
  const env: Record<string, string> = postgres
    ? { DAQFLOW_HOME: dir, DAQFLOW_NATS_URL: natsUrl, DAQFLOW_DATABASE_URL: postgres.url, DAQFLOW_STREAM: `TRIAL_${token}`, DAQFLOW_SUBJECT_PREFIX: `trial_${token}` }
    : { DAQFLOW_HOME: dir };
  try {
    const daqflow = await startDaqflowProcess({ env, timeoutMs: 120_000 });
    const children = childrenOf(daqflow.child.pid as number);
    const demo = await runCli(['demo', '--steps', '3', '--interval-ms', '100'], env, 120_000);
    const sent = performance.now();
    process.kill(-(daqflow.child.pid as number), 'SIGINT');
    const exit = await Promise.race([daqflow.exited, sleep(30_000).then(() => undefined)]);
    const ms = performance.now() - sent;
    await sleep(200);
    const left = [...children.filter(isAlive), ...processesMentioning(dir).map((p) => p.pid)];
    const ok = demo.code === 0 && exit?.code === 0 && ms <= 10_000 && left.length === 0;
    return { trial, ok, detail: `exit ${exit ? `code ${exit.code}` : 'none within 30 s'} after ${Math.round(ms)} ms, children left ${left.length}, demo exit ${demo.code}` };
  } finally {
    await killAllDaqflowProcesses();
    killProcessesMentioning(dir);
    await postgres?.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
};

const nc = await connect({ servers: natsUrl, name: 'daqflow-fault-trials' });
let failed = 0;
const kinds: Array<[string, (trial: number) => Promise<Row>]> = [
  ['postgres', (t) => postgresTrial(nc, t)],
  ['ctrl-c-embedded', (t) => ctrlCTrial(t, false)],
  ['ctrl-c-external', (t) => ctrlCTrial(t, true)],
];
for (const [kind, run] of kinds) {
  if (!only.has(kind)) continue;
  process.stdout.write(`\n${kind} (${trials} trials)\ntrial | result | detail\n---|---|---\n`);
  let passed = 0;
  for (let t = 1; t <= trials; t++) {
    const row = await run(t).catch((e: unknown) => ({ trial: t, ok: false, detail: `error: ${(e as Error).message.split('\n')[0]}` }));
    if (row.ok) passed++;
    else failed++;
    process.stdout.write(`${row.trial} | ${row.ok ? 'PASS' : 'FAIL'} | ${row.detail}\n`);
  }
  process.stdout.write(`${kind}: ${passed} of ${trials} passed\n`);
}
await nc.close();
process.exit(failed === 0 ? 0 : 1);
