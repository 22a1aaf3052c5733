// `npm run bench:soak -- [--minutes N]` (default 60): a `daqflow up` under a steady load for N
// minutes: a 100 Hz bsread stream of the simulator's channels (a 64x48 image among them) sent by
// this script over PUSH, an acquisition every 10 s (stopped 5 s later), a grab every minute, a
// report every 10 minutes (the first at once), and beside them at one a second each: the NATS
// fuzz's hostile bodies, and a mutated bsread message (test/fuzz/bsreadMutations.ts) slipped into
// the stream between two good pulses. A mutated message carries a pulse id far below the stream's,
// so one that still decodes is dropped as out of order and can never pass for a good pulse. Resident memory, open file descriptors and
// event-loop delay are sampled from /metrics; the start (after a one-minute warm-up, or a tenth of
// the run if shorter) and the end are compared (target: within 10 %). Every job must end
// completed, and the projections must reach the stream's last event. Uses the NATS server and
// PostgreSQL of the machine (DAQFLOW_NATS_URL, default nats://127.0.0.1:4222; PGHOST/PGUSER as
// psql takes them, default 127.0.0.1 and postgres): it makes a database and a stream of its own
// and removes both.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import fc from 'fast-check';
import pg from 'pg';
import * as zmq from 'zeromq';
import { encodeDataHeader } from '../adapters/bsread/bsreadEncoder.js';
import { defaultSimulatedChannels } from '../adapters/bsread/bsreadSimulator.js';
import { goodMessage, mutate, mutation, type Mutation } from '../test/fuzz/bsreadMutations.js';
import { hostileBody } from '../test/fuzz/natsBodies.js';
import { fmt } from './stats.js';

const argv = process.argv.slice(2);
if (argv.includes('--help')) {
  console.log('usage: npm run bench:soak -- [--minutes N]   (default 60)');
  process.exit(0);
}
const minutesArg = argv.indexOf('--minutes');
const minutes = minutesArg >= 0 ? Number(argv[minutesArg + 1]) : 60;
if (!(minutes > 0)) throw new Error('--minutes takes a positive number');

const natsUrl = process.env.DAQFLOW_NATS_URL ?? 'nats://127.0.0.1:4222';
const token = `soak_${Date.now().toString(36)}`;
const home = mkdtempSync(join(tmpdir(), 'daqflow-soak-'));
const pgHost = process.env.PGHOST ?? '127.0.0.1';
const pgUser = process.env.PGUSER ?? 'postgres';
const admin = new pg.Client({ host: pgHost, user: pgUser, database: 'postgres' });
await admin.connect();
await admin.query(`CREATE DATABASE ${token}`);

// The stream: good pulses on the wall clock's 100 Hz grid, paced on an absolute schedule.
const bsreadHeader = encodeDataHeader(defaultSimulatedChannels({ imageWidth: 64, imageHeight: 48, waveformLength: 256 }), { compression: 'none' });
const bsreadMutations = fc.sample(mutation(bsreadHeader.channels.length), { numRuns: 600, seed: 19 }) as Mutation[];
const push = new zmq.Push({ sendHighWaterMark: 1_000, linger: 0 });
await push.bind('tcp://127.0.0.1:*');
let streaming = true;
const bsreadSent = { good: 0, mutated: 0 };
const streamDone = (async () => {
  const t0 = Date.now();
  const id0 = Math.floor(t0 / 10);
  for (let k = 0; streaming; k++) {
    const due = t0 + k * 10;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await push.send(goodMessage(bsreadHeader, id0 + k));
    bsreadSent.good++;
    if (k % 100 === 50) {
      await push.send(mutate(goodMessage(bsreadHeader, 1_000_000 + bsreadSent.mutated), bsreadHeader, bsreadMutations[bsreadSent.mutated % bsreadMutations.length]!));
      bsreadSent.mutated++;
    }
  }
})();

const env = {
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DAQFLOW_'))),
  DAQFLOW_NATS_URL: natsUrl,
  DAQFLOW_DATABASE_URL: `postgres://${pgUser}@${pgHost}:5432/${token}`,
  DAQFLOW_HOME: home,
  DAQFLOW_STREAM: token.toUpperCase(),
  DAQFLOW_SUBJECT_PREFIX: token,
  DAQFLOW_HTTP: '127.0.0.1:0',
  DAQFLOW_LOG_LEVEL: 'warn',
  DAQFLOW_TIMEZONE: 'UTC',
  DAQFLOW_BSREAD_STREAM: push.lastEndpoint as string,
  DAQFLOW_BSREAD_MODE: 'pull',
};
const up = spawn(process.execPath, [resolve('bin/daqflow.js'), 'up'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
let out = '';
up.stdout.on('data', (d: Buffer) => (out += d.toString()));
up.stderr.on('data', (d: Buffer) => process.stderr.write(d));
const deadline = Date.now() + 120_000;
while (!/daqflow up: ready/.test(out)) {
  if (Date.now() > deadline || up.exitCode !== null) throw new Error(`daqflow up did not start:\n${out}`);
  await new Promise((r) => setTimeout(r, 100));
}
const httpUrl = /^ {2}http {6}(http:\/\/\S+)/m.exec(out)?.[1];
const nc = await connect({ servers: natsUrl, name: 'soak' });
const decoder = new TextDecoder();

const request = async (verb: string, body: unknown): Promise<{ ok: boolean; body: Record<string, unknown> }> => {
  const m = await nc.request(`${token}.${verb}`, JSON.stringify(body), { timeout: 30_000 });
  return { ok: !m.headers?.get('Nats-Service-Error-Code'), body: JSON.parse(decoder.decode(m.data)) as Record<string, unknown> };
};

interface Sample {
  readonly at: number;
  readonly rss: number;
  readonly fds: number;
  readonly lagP99: number;
  /** The machine's one-minute load average: loop delay means little without it. */
  readonly load: number;
}
/** Every sample of a metric in a /metrics text, one per label set. */
const samplesOf = (text: string, name: string): number[] =>
  [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'gm'))].map((m) => Number(m[1]));
const metric = (text: string, name: string): number => samplesOf(text, name)[0] ?? NaN;
const bsreadCounters = async (): Promise<string> => {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  // Summed over labels (malformed messages are counted by reason).
  const total = (name: string): number => samplesOf(text, name).reduce((sum, n) => sum + n, 0);
  return ['received_messages', 'malformed_messages', 'missing_pulses'].map((n) => `${n} ${total(`daqflow_bsread_${n}_total`)}`).join(', ');
};
const sample = async (): Promise<Sample> => {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  return {
    at: Date.now(),
    rss: metric(text, 'process_resident_memory_bytes'),
    fds: metric(text, 'process_open_fds'),
    lagP99: metric(text, 'nodejs_eventloop_lag_p99_seconds'),
    load: loadavg()[0]!,
  };
};

const jobs: Array<{ kind: string; id: string }> = [];
const failures: string[] = [];
const start = async (kind: string, verb: string, body: unknown): Promise<string | undefined> => {
  try {
    const r = await request(verb, body);
    if (!r.ok) throw new Error(JSON.stringify(r.body));
    jobs.push({ kind, id: String(r.body.id) });
    return String(r.body.id);
  } catch (e) {
    failures.push(`${kind} start: ${String(e).slice(0, 300)}`);
    return undefined;
  }
};

const endsAt = Date.now() + minutes * 60_000;
const warmUpMs = Math.min(60_000, (minutes * 60_000) / 10);
const timers: NodeJS.Timeout[] = [];
let acquisitions = 0;
const acquire = async (): Promise<void> => {
  const id = await start('acquisition', 'acquisitions.start', { outputFile: `soak/run_${acquisitions++}.h5`, startNow: true });
  if (id) setTimeout(() => void request('acquisitions.stop', { id, now: true }).catch((e: unknown) => failures.push(`stop ${id}: ${String(e)}`)), 5_000);
};
let grabs = 0;
const grab = (): Promise<unknown> =>
  start('grab', 'grabs.start', { parameters: ['SIM:SINE', 'SIM:RAMP'], startAt: '2026-11-20T00:00:00Z', stopAt: '2026-11-20T01:00:00Z', outDir: `grabs/${grabs++}` });
const report = (): Promise<unknown> => start('report', 'reports.start', { configPath: resolve('examples/reports.yaml'), mode: 'sim' });
const hostile = fc.sample(hostileBody({ fields: ['id', 'outputFile', 'label', 'steps'], ids: ['x'], maxBodyBytes: 256 * 1024 }), { numRuns: 600, seed: 19 });
let fuzzed = 0;
const fuzz = (): void => {
  const body = hostile[fuzzed++ % hostile.length] as string | Uint8Array;
  const verb = ['demo.start', 'acquisitions.start', 'grabs.start', 'reports.get'][fuzzed % 4] as string;
  nc.request(`${token}.${verb}`, body, { timeout: 30_000 }).then(
    (m) => {
      const error = (JSON.parse(decoder.decode(m.data)) as { error?: { code?: string } }).error;
      if (error?.code === 'INTERNAL') failures.push(`fuzz ${verb}: INTERNAL`);
      // A hostile body that happened to be a valid start: its job is judged with the others.
      if (!m.headers?.get('Nats-Service-Error-Code') && verb !== 'reports.get') fuzzedStarts++;
    },
    (e: unknown) => failures.push(`fuzz ${verb}: ${String(e)}`),
  );
};
let fuzzedStarts = 0;

console.log(`soak: ${minutes} min against daqflow up (stream ${env.DAQFLOW_STREAM}), metrics ${httpUrl}`);
void acquire();
void grab();
void report();
timers.push(setInterval(() => void acquire(), 10_000), setInterval(() => void grab(), 60_000), setInterval(() => void report(), 600_000), setInterval(fuzz, 1_000));
await new Promise((r) => setTimeout(r, warmUpMs));
const first = await sample();
const samples: Sample[] = [first];
timers.push(setInterval(() => void sample().then((s) => samples.push(s)), 10_000));
await new Promise((r) => setTimeout(r, Math.max(0, endsAt - Date.now())));
for (const t of timers) clearInterval(t);

// Every job started must end, and end completed.
const states = new Map<string, number>();
const finalDeadline = Date.now() + 300_000;
for (const job of jobs) {
  const verb = `${job.kind === 'acquisition' ? 'acquisitions' : `${job.kind}s`}.get`;
  for (;;) {
    const r = await request(verb, { id: job.id }).catch(() => undefined);
    if (r?.body.final) {
      const key = `${job.kind} ${String(r.body.state)}`;
      states.set(key, (states.get(key) ?? 0) + 1);
      if (r.body.state !== 'completed') failures.push(`${job.kind} ${job.id}: ${String(r.body.state)} ${String(r.body.error ?? '')}`);
      break;
    }
    if (Date.now() > finalDeadline) {
      failures.push(`${job.kind} ${job.id} did not end`);
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
const last = await sample();
const bsreadSeen = await bsreadCounters();
const jsm = await jetstreamManager(nc);
const info = await jsm.streams.info(env.DAQFLOW_STREAM);
const db = new pg.Client({ host: pgHost, user: pgUser, database: token });
await db.connect();
const projected = await db.query<{ n: string }>(`SELECT count(*) AS n FROM actor_status`).catch(() => ({ rows: [{ n: '?' }] }));
await db.end();

const change = (a: number, b: number): string => `${fmt(a, 3)} -> ${fmt(b, 3)} (${b >= a ? '+' : ''}${fmt(((b - a) / a) * 100, 1)} %)`;
console.log(`soak: ${minutes} min, ${jobs.length} jobs (${[...states].map(([k, n]) => `${n} ${k}`).join(', ')}), ${fuzzed} hostile bodies (${fuzzedStarts} accepted as starts)`);
console.log(`  rss MiB        ${change(first.rss / 2 ** 20, last.rss / 2 ** 20)}`);
console.log(`  open fds       ${change(first.fds, last.fds)}`);
console.log(`  loop p99 ms    ${change(first.lagP99 * 1000, last.lagP99 * 1000)}`);
console.log(`  load average   ${change(first.load, last.load)}`);
console.log(`  samples (rss MiB): ${samples.map((s) => fmt(s.rss / 2 ** 20)).join(' ')}`);
console.log(`  bsread: sent ${bsreadSent.good} good and ${bsreadSent.mutated} mutated messages; daqflow counted ${bsreadSeen}`);
console.log(`  stream: ${info.state.messages} events; actors projected: ${projected.rows[0]?.n}`);
const flat = (a: number, b: number): boolean => Math.abs(b - a) <= 0.1 * a;
console.log(`  flat within 10 %: rss ${flat(first.rss, last.rss)}, fds ${flat(first.fds, last.fds)}, loop delay ${flat(first.lagP99, last.lagP99)}`);
if (failures.length) console.log(`  FAILURES (${failures.length}):\n    ${failures.slice(0, 20).join('\n    ')}`);

await nc.close();
up.kill('SIGTERM');
await new Promise((r) => up.once('exit', r));
streaming = false;
push.close();
await streamDone.catch(() => undefined);
const cleanup = await connect({ servers: natsUrl, name: 'soak-cleanup' });
await (await jetstreamManager(cleanup)).streams.delete(env.DAQFLOW_STREAM).catch(() => undefined);
await cleanup.close();
await admin.query(`DROP DATABASE IF EXISTS ${token} WITH (FORCE)`);
await admin.end();
rmSync(home, { recursive: true, force: true });
process.exit(failures.length ? 1 : 0);
