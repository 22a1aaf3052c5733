/**
 * Writer trials, run as a new user would run them and repeated: `npm run bench:writer`.
 *
 * Each trial is a fresh `daqflow up` (a database and a stream of its own) fed by the independent
 * libzmq sender (bench/bsreadLibzmqSender.c, sharing no code with daqflow), and the first
 * acquisition after `up`, asked `--lead` seconds ahead of the newest pulse for `--seconds` of
 * stream. Every row of the file is then read back with h5py (test/harness/checkLibzmqSenderFile.py)
 * and compared with the sender's formulas. A trial passes when every row is present and equal.
 *
 * The sender runs `--on-full drop` by default: a source on the machine's clock (a camera, an IOC)
 * that cannot wait for its reader, so a reader that falls behind loses pulses at the sender, and a
 * writer that falls behind loses them from the ring buffer; both are counted. With `block` the
 * sender waits instead (no loss is possible at the sender; the stream comes late).
 *
 * Beside every trial: the CPU seconds per second of daqflow and of the sender over the
 * acquisition, and the machine's idle share then (/proc/stat), so that a miss on a loaded machine
 * can be told from a miss on a quiet one.
 *
 * Prints one table row per trial and a summary per rung; exit code 0 unless a trial crashed.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pg from 'pg';
import { freePort } from '../adapters/embedded/freePort.js';
import { cpuSecondsOf } from './servers.js';
import { firstTouchMicros, machineTicks, StealSampler, warmFreeMemory } from './vmMachine.js';
import { fmt as formatNumber } from './stats.js';
import { killAllDaqflowProcesses, repoRoot, startDaqflowProcess } from '../test/harness/daqflowProcess.js';
import { killAllSenders, startLibzmqSender, type SenderSummary } from '../test/harness/libzmqSender.js';
import { pythonWith, runPythonJson } from '../test/harness/python.js';
import { uniqueToken } from '../test/harness/testNames.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    rungs: { type: 'string', default: 'image:300,scalars:3000,image:400' },
    seconds: { type: 'string', default: '30' },
    lead: { type: 'string', default: '1' },
    'on-full': { type: 'string', default: 'drop' },
    'nats-url': { type: 'string', default: 'nats://127.0.0.1:4222' },
    'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    'node-args': { type: 'string', default: '' },
    'keep-output': { type: 'string', default: '' },
    'warm-memory': { type: 'boolean', default: false },
    receiver: { type: 'string', default: 'zmtp' },
    'up-env': { type: 'string', multiple: true, default: [] },
    'sender-first': { type: 'boolean', default: false },
    acquisitions: { type: 'string', default: '1' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  process.stdout.write(`npm run bench:writer -- [--runs N] [--rungs KIND:HZ,...] [--seconds S] [--lead S] [--on-full drop|block]
                        [--nats-url URL] [--pg-url URL] [--node-args="ARGS"]
  Each run of each rung: a fresh daqflow up, the libzmq sender, the first acquisition asked --lead s
  ahead for --seconds of stream, every row checked with h5py.
  KIND: image (1024x1280 uint16, one channel) or scalars (200 float64 channels).
  Defaults: --runs 5 --rungs image:300,scalars:3000,image:400 --seconds 30 --lead 1 --on-full drop;
  NATS and PostgreSQL on 127.0.0.1 (a database per trial is made on --pg-url's server and dropped).
  --node-args="...": options for each daqflow up's node, e.g. --node-args="--cpu-prof --cpu-prof-dir=/tmp/prof" to
  profile where the receiving thread spends the trial.
  --keep-output=DIR: what each daqflow up printed (with --node-args="--trace-gc", its collections), as
  DIR/<kind><Hz>-<run>.out and .err, and the sender's summary as DIR/<kind><Hz>-<run>.sender.json.
  --receiver=zmtp|zeromq: daqflow's bsread reader (DAQFLOW_BSREAD_RECEIVER), default zmtp.
  --acquisitions N: N acquisitions per run, one after the other from the same up: the first after up
  and N-1 later ones, each asked --lead s ahead once the one before ended (default 1).
  --sender-first: start the sender before daqflow up, as at a facility where the detector streams before
  daqflow starts: up connects while it starts, and the first acquisition is asked once it is ready. By
  default the sender starts after up is ready, so the stream is ~1 s old when the acquisition begins.
  --up-env NAME=VALUE: a variable more for each daqflow up (repeatable), e.g. --up-env DAQFLOW_BUFFER_LENGTH=100.
  --warm-memory: touch the machine's free memory once before the trials. On a virtual machine, memory
  not touched since boot costs a fault in the host on first use (the bench prints what a page costs
  before and after); a machine used for hours has touched it already.
  Beside each trial: the host's steal time (the share of the CPUs the hypervisor took back) over the
  acquisition, and the stretches where it reached 15 %, in seconds from the first pulse like the losses.
`);
  process.exit(0);
}

interface Rung {
  readonly kind: 'image' | 'scalars';
  readonly rateHz: number;
}

const rungs: Rung[] = args.rungs.split(',').map((text) => {
  const [kind, hz] = text.split(':');
  if ((kind !== 'image' && kind !== 'scalars') || !(Number(hz) > 0)) throw new Error(`--rungs: "${text}" is not image:HZ or scalars:HZ`);
  return { kind, rateHz: Number(hz) };
});
const runs = Number(args.runs);
const seconds = Number(args.seconds);
const lead = Number(args.lead);
const onFull = args['on-full'];
const senderFirst = args['sender-first'];
const acquisitions = Number(args.acquisitions);
if (!Number.isInteger(acquisitions) || acquisitions < 1) throw new Error(`--acquisitions: "${args.acquisitions}" is not a positive integer`);
if (onFull !== 'drop' && onFull !== 'block') throw new Error(`--on-full: "${onFull}" is not drop or block`);
if (args.receiver !== 'zmtp' && args.receiver !== 'zeromq') throw new Error(`--receiver: "${args.receiver}" is not zmtp or zeromq`);
const upEnv: Record<string, string> = Object.fromEntries(
  args['up-env'].map((pair) => {
    const at = pair.indexOf('=');
    if (at < 1) throw new Error(`--up-env: "${pair}" is not NAME=VALUE`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  }),
);

const python = pythonWith(['h5py', 'numpy'], ['python3-h5py', 'python3-numpy']);

interface FileCheck {
  readonly rows: number;
  readonly channels: number;
  readonly problems: Record<string, { count: number }>;
  readonly absentRanges: Array<[number, number]>;
  readonly absentRows: number;
}

interface AcquisitionView {
  readonly state: string;
  readonly final?: boolean;
  readonly pulsesWritten: number;
  readonly missingPulses: number;
  readonly lostPulses?: { count: number; ranges: Array<{ from: number; to: number }> };
  readonly error?: { code?: string; message?: string };
}

interface Trial {
  readonly rung: Rung;
  readonly run: number;
  /** 1: the first acquisition after `up`; 2 and on: later ones from the same process. */
  readonly acquisition: number;
  readonly ok: boolean;
  readonly rows: string;
  readonly where: string;
  readonly senderDropped: number;
  readonly senderHz: number;
  readonly daqflowCpu: number;
  readonly senderCpu: number;
  readonly idle: number;
  readonly steal: number;
  readonly stealWhere: string;
  readonly checkSeconds: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const request = async (nc: NatsConnection, subject: string, body: unknown, timeout = 10_000): Promise<Record<string, unknown>> =>
  (await nc.request(subject, JSON.stringify(body), { timeout })).json<Record<string, unknown>>();

/** Pulse stretches as `a..b` (first few), relative to the acquisition's first pulse. */
const describeRanges = (ranges: ReadonlyArray<readonly [number, number]>, first: number, rateHz: number): string => {
  if (ranges.length === 0) return '';
  const shown = ranges.slice(0, 3).map(([a, b]) => `${((a - first) / rateHz).toFixed(1)}-${((b + 1 - first) / rateHz).toFixed(1)} s`);
  return `${ranges.length} stretch${ranges.length === 1 ? '' : 'es'} (${shown.join(', ')}${ranges.length > 3 ? ', …' : ''})`;
};

const trial = async (nc: NatsConnection, admin: pg.Client, rung: Rung, run: number): Promise<Trial[]> => {
  const token = uniqueToken();
  const database = `writer_trial_${token}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  await admin.query(`CREATE DATABASE ${database}`);
  const dir = mkdtempSync(join(tmpdir(), 'daqflow-writer-trial-'));
  chmodSync(dir, 0o755);
  const dataRoot = join(dir, 'data');
  const address = `tcp://127.0.0.1:${await freePort()}`;
  const prefix = `wt_${token}`;
  const dbUrl = new URL(args['pg-url']);
  dbUrl.pathname = `/${database}`;
  const steal = new StealSampler();
  try {
    const payload = rung.kind === 'image' ? ['--image', '1024x1280'] : ['--scalars', '200'];
    const startSender = () =>
      startLibzmqSender([
        ...['--mode', 'push', '--on-full', onFull, '--bind', address, '--rate', String(rung.rateHz), ...payload],
        // Sender first: it streams while up starts (up to 2 min). It is stopped once the last acquisition ends.
        ...['--start-pulse', 'time', '--seconds', String(acquisitions * (seconds + lead + 4) + 6 + (senderFirst ? 120 : 0)), '--wait-peer', senderFirst ? '180' : '30'],
      ]);
    const early = senderFirst ? await startSender() : undefined;
    const up = await startDaqflowProcess({
      env: {
        DAQFLOW_NATS_URL: args['nats-url'],
        DAQFLOW_DATABASE_URL: dbUrl.toString(),
        DAQFLOW_HOME: dir,
        DAQFLOW_STREAM: `WT_${token}`,
        DAQFLOW_SUBJECT_PREFIX: prefix,
        DAQFLOW_DATA_ROOT: dataRoot,
        DAQFLOW_BSREAD_STREAM: address,
        DAQFLOW_BSREAD_MODE: 'pull',
        DAQFLOW_BSREAD_RECEIVER: args.receiver,
        DAQFLOW_HTTP: 'none',
        DAQFLOW_LOG_LEVEL: 'warn',
        ...upEnv,
      },
      timeoutMs: 120_000,
      nodeArgs: args['node-args'].split(' ').filter((a) => a !== ''),
    });
    const sender = early ?? (await startSender());
    await sender.sending;
    type Cpu = { up: number; sender: number; machine: ReturnType<typeof machineTicks>; at: number };
    const cpuNow = (): Cpu => ({ up: cpuSecondsOf(up.child.pid!), sender: cpuSecondsOf(sender.child.pid!), machine: machineTicks(), at: performance.now() });
    interface Acquired {
      readonly k: number;
      readonly first: number;
      readonly last: number;
      readonly view: AcquisitionView;
      readonly cpu0: Cpu;
      readonly cpu1: Cpu;
    }
    const acquired: Acquired[] = [];
    // The first acquisition after `up`, then each later one asked as soon as the one before ended.
    for (let k = 1; k <= acquisitions; k++) {
      const first = Math.floor((Date.now() * rung.rateHz) / 1000) + Math.round(lead * rung.rateHz);
      const last = first + seconds * rung.rateHz - 1;
      const started = await request(nc, `${prefix}.acquisitions.start`, { outputFile: `trial-${k}.h5`, startPulseId: first, stopPulseId: last });
      const id = started['id'];
      if (typeof id !== 'string') throw new Error(`start refused: ${JSON.stringify(started)}`);

      // CPU over the acquisition's stream: from its first pulse's time to its last.
      await sleep(lead * 1_000);
      const cpu0 = cpuNow();
      let view: AcquisitionView | undefined;
      let cpu1: Cpu | undefined;
      const deadline = Date.now() + (seconds + lead) * 1_000 + 120_000;
      while (view === undefined) {
        if (Date.now() > deadline) throw new Error(`acquisition ${id} did not end within ${seconds + lead + 120} s`);
        const v = (await request(nc, `${prefix}.acquisitions.get`, { id })) as unknown as AcquisitionView;
        if (cpu1 === undefined && performance.now() - cpu0.at >= seconds * 1_000) cpu1 = cpuNow();
        if (v.final === true) view = v;
        else await sleep(250);
      }
      acquired.push({ k, first, last, view, cpu0, cpu1: cpu1 ?? cpuNow() });
    }
    if (senderFirst || acquisitions > 1) sender.kill('SIGTERM');
    const sent = await sender.exited;
    up.kill('SIGTERM');
    await up.exited;
    if (args['keep-output'] !== '') {
      mkdirSync(args['keep-output'], { recursive: true });
      const base = join(args['keep-output'], `${rung.kind}${rung.rateHz}-${run}`);
      writeFileSync(`${base}.out`, up.stdout());
      writeFileSync(`${base}.err`, up.stderr());
      writeFileSync(`${base}.sender.json`, JSON.stringify({ first: acquired[0]!.first, firsts: acquired.map((a) => a.first), rateHz: rung.rateHz, summary: sent.summary }, null, 2));
    }

    const trials: Trial[] = [];
    for (const { k, first, last, view, cpu0, cpu1 } of acquired) {
      const span = (cpu1.at - cpu0.at) / 1_000;
      const machineTotal = cpu1.machine.total - cpu0.machine.total;
      const firstAt = (first * 1_000) / rung.rateHz;
      const lastAt = ((last + 1) * 1_000) / rung.rateHz;
      const stealEpisodes = steal.episodes(firstAt, lastAt).map(([a, b]) => `${((a - firstAt) / 1_000).toFixed(1)}-${((b - firstAt) / 1_000).toFixed(1)} s`);
      const checkStart = performance.now();
      const file = join(dataRoot, `trial-${k}.h5`);
      const check = view.state === 'completed' ? await runPythonJson<FileCheck>(python, join(repoRoot, 'test', 'harness', 'checkLibzmqSenderFile.py'), [file, String(first), String(last)], 600_000) : undefined;
      const checkSeconds = (performance.now() - checkStart) / 1_000;
      rmSync(file, { force: true }); // an image file is tens of GB
      const expected = seconds * rung.rateHz;
      const wrong = Object.entries(check?.problems ?? {}).filter(([key]) => key !== 'notPresent').map(([key, v]) => `${v.count} ${key}`);
      const summary: SenderSummary | undefined = sent.summary;
      const ok = view.state === 'completed' && check !== undefined && check.absentRanges.length === 0 && wrong.length === 0;
      const where = [
        view.state !== 'completed' ? `${view.state} ${view.error?.code ?? ''}`.trim() : '',
        check ? describeRanges(check.absentRanges, first, rung.rateHz) : '',
        view.lostPulses ? `ring overtook the writer: ${view.lostPulses.count}` : '',
        wrong.join(', '),
      ].filter((x) => x !== '').join('; ');
      trials.push({
        rung,
        run,
        acquisition: k,
        ok,
        rows: `${check === undefined ? 0 : check.rows - check.absentRows}/${expected}`,
        where: where === '' ? '–' : where,
        senderDropped: summary?.dropped ?? Number.NaN,
        senderHz: summary?.achievedHz ?? Number.NaN,
        daqflowCpu: (cpu1.up - cpu0.up) / span,
        senderCpu: (cpu1.sender - cpu0.sender) / span,
        idle: machineTotal > 0 ? (cpu1.machine.idle - cpu0.machine.idle) / machineTotal : Number.NaN,
        steal: steal.share(firstAt, lastAt),
        stealWhere: stealEpisodes.length === 0 ? '–' : stealEpisodes.join(', '),
        checkSeconds,
      });
    }
    return trials;
  } finally {
    steal.stop();
    await killAllSenders();
    await killAllDaqflowProcesses();
    rmSync(dir, { recursive: true, force: true });
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined);
  }
};

const fmt = (n: number, digits = 2): string => (Number.isFinite(n) ? formatNumber(n, digits) : '–');
const label = (rung: Rung): string => (rung.kind === 'image' ? `1024×1280 uint16 images, ${rung.rateHz} Hz` : `200 float64 scalars, ${rung.rateHz} Hz`);

const nc = await connect({ servers: args['nats-url'], name: 'daqflow-writer-trials' });
const admin = new pg.Client({ connectionString: args['pg-url'] });
await admin.connect();
let crashed = 0;
const results: Trial[] = [];
const touchBefore = firstTouchMicros();
let memory = `memory new to a process: ${fmt(touchBefore)} us per 4 KiB page to touch`;
if (args['warm-memory']) {
  const warmed = warmFreeMemory();
  memory += `; ${formatNumber(warmed.mib, 0)} MiB of free memory touched in ${fmt(warmed.seconds, 1)} s (--warm-memory), then ${fmt(firstTouchMicros())} us per page`;
}
process.stdout.write(
  `writer trials: ${runs} run(s) per rung, ${seconds} s per acquisition asked ${lead} s ahead, sender --on-full ${onFull}${senderFirst ? ' started before up' : ' started once up is ready'}, receiver ${args.receiver}${args['up-env'].length > 0 ? `, up with ${args['up-env'].join(' ')}` : ''}, ${new Date().toISOString()}\n${memory}\n\n` +
    'stream | run | acquisition | rows present | lost, where (s from the first pulse) | sender dropped | sender Hz | daqflow CPU s/s | sender CPU s/s | machine idle | host steal | steal ≥ 15 %, where | h5py check s | result\n' +
    '---|---|---|---|---|---|---|---|---|---|---|---|---|---\n',
);
const which = (k: number): string => (k === 1 ? 'first' : `later (${k})`);
for (const rung of rungs) {
  for (let run = 1; run <= runs; run++) {
    try {
      for (const t of await trial(nc, admin, rung, run)) {
        results.push(t);
        process.stdout.write(
          `${label(rung)} | ${run} | ${which(t.acquisition)} | ${t.rows} | ${t.where} | ${t.senderDropped} | ${fmt(t.senderHz, 1)} | ${fmt(t.daqflowCpu)} | ${fmt(t.senderCpu)} | ${fmt(t.idle * 100, 0)} % | ${fmt(t.steal * 100, 1)} % | ${t.stealWhere} | ${fmt(t.checkSeconds, 0)} | ${t.ok ? 'PASS' : 'MISS'}\n`,
        );
      }
    } catch (e) {
      crashed++;
      process.stdout.write(`${label(rung)} | ${run} | – | – | error: ${(e as Error).message.split('\n')[0]} | | | | | | | | | ERROR\n`);
    }
  }
}
process.stdout.write(`\nstream | lossless runs, first acquisition${acquisitions > 1 ? ' | lossless, later acquisitions' : ''}\n---|---${acquisitions > 1 ? '|---' : ''}\n`);
for (const rung of rungs) {
  const mine = results.filter((t) => t.rung === rung);
  const firsts = mine.filter((t) => t.acquisition === 1);
  const later = mine.filter((t) => t.acquisition > 1);
  process.stdout.write(
    `${label(rung)} | ${firsts.filter((t) => t.ok).length} of ${runs}${acquisitions > 1 ? ` | ${later.filter((t) => t.ok).length} of ${runs * (acquisitions - 1)}` : ''}\n`,
  );
}
await admin.end();
await nc.close();
process.exit(crashed === 0 ? 0 : 1);
