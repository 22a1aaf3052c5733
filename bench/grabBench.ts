import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createJetStreamEventStore } from '../adapters/jetstream/jetstreamEventStore.js';
import { benchSource, expectedSamples, runGrab, type GrabChildReport, type GrabRunResult, type GrabSpec } from './grabChild.js';
import type { BenchRow, Log, Measured } from './result.js';
import { cpuMeter, deleteStream, freshStreamNames, recreateStream, type BenchServers, type CpuUse } from './servers.js';
import { fmt, fmtMB, median, pairedRatio } from './stats.js';

export interface GrabBenchOptions {
  readonly parameters: number;
  readonly hours: number;
  readonly rateHz: number;
  readonly chunkSeconds: number;
  /** Grab runs (each with its baselines before and after it); the median is reported. */
  readonly repeat: number;
}

/** Bytes of one sample wherever the grab writes it (chunk work file, HDF5): time and value, float64. */
const SAMPLE_BYTES = 16;
const MB = 1024 * 1024;

interface Rate {
  readonly samples: number;
  readonly ms: number;
  readonly rate: number;
}

const rateOf = (samples: number, ms: number): Rate => ({ samples, ms, rate: samples / (ms / 1000) });

/**
 * The floor of reading: every parameter's samples over the whole window from the same simulator
 * (`fetchSamples`, one call per parameter), touching each time and value. Samples per second.
 */
const rawRead = async (spec: GrabSpec): Promise<Rate> => {
  const { source, start, stop } = benchSource(spec);
  let samples = 0;
  let sum = 0;
  let nans = 0;
  let lastTime = 0;
  const started = performance.now();
  for (const parameter of source.parameters) {
    for await (const batch of source.fetchSamples(parameter, start, stop)) {
      const { times, values } = batch;
      for (let i = 0; i < values.length; i++) {
        const v = values[i]!;
        if (v === v) sum += v;
        else nans++;
        lastTime = times[i]!;
      }
      samples += values.length;
    }
  }
  const ms = performance.now() - started;
  if (samples !== expectedSamples(spec) || !Number.isFinite(sum) || lastTime === 0 || nans === samples) {
    throw new Error(`raw read saw ${samples} samples (${nans} NaN), expected ${expectedSamples(spec)}`);
  }
  return rateOf(samples, ms);
};

/**
 * The floor of writing: the same number of bytes the grab writes once (16 per sample), written
 * sequentially with `fs` in 1 MiB blocks to one new file, synced and closed. Samples per second.
 */
const rawWrite = async (spec: GrabSpec, dir: string): Promise<Rate> => {
  const samples = expectedSamples(spec);
  const total = samples * SAMPLE_BYTES;
  const block = Buffer.alloc(MB);
  for (let i = 0; i < block.length; i += 8) block.writeDoubleLE(Math.sin(i), i);
  const path = join(dir, 'raw-write.f64');
  const started = performance.now();
  const fh = await open(path, 'w');
  try {
    for (let written = 0; written < total; ) {
      const n = Math.min(block.length, total - written);
      const { bytesWritten } = await fh.write(block, 0, n);
      written += bytesWritten;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  const ms = performance.now() - started;
  rmSync(path, { force: true });
  return rateOf(samples, ms);
};

interface InProcessRun {
  readonly grab: GrabRunResult;
  readonly cpu: CpuUse;
}

/** One grab through an ActorRuntime on a fresh JetStream stream of the bench's server. */
const grabInProcess = async (servers: BenchServers, spec: GrabSpec, dataRoot: string): Promise<InProcessRun> => {
  const names = freshStreamNames('grab');
  await recreateStream(servers.jsm, names);
  const store = createJetStreamEventStore({ nc: servers.nc, ...names });
  try {
    const cpu = cpuMeter(servers);
    const grab = await runGrab(store, spec, dataRoot);
    return { grab, cpu: cpu(grab.samples) };
  } finally {
    await store.close();
    await deleteStream(servers.jsm, names);
    rmSync(dataRoot, { recursive: true, force: true });
  }
};

const here = fileURLToPath(new URL('.', import.meta.url));

const resolveOr = (specifier: string, fallback: string): string => {
  try {
    return import.meta.resolve(specifier);
  } catch {
    return fallback;
  }
};

/**
 * Runs `bench/grabChild.ts` in a new node process (tsx loader), on a fresh stream of the bench's
 * nats-server, and returns its report. `preloadH5wasm` loads h5wasm before tsx's loader is
 * registered (see the notes: through tsx it costs ~600 MB of RSS by itself).
 */
const runChild = async (
  servers: BenchServers,
  spec: GrabSpec,
  dataRoot: string,
  log: Log,
  options: { preloadH5wasm: boolean; probe?: boolean },
): Promise<GrabChildReport> => {
  const names = freshStreamNames('grab_child');
  await recreateStream(servers.jsm, names);
  const imports = [
    ...(options.preloadH5wasm ? ['--import', resolveOr('h5wasm/node', 'h5wasm/node')] : []),
    '--import',
    resolveOr('tsx', 'tsx'),
  ];
  const args = [
    ...imports,
    join(here, 'grabChild.ts'),
    ...['--parameters', String(spec.parameters), '--hours', String(spec.hours), '--rate-hz', String(spec.rateHz)],
    ...['--chunk-seconds', String(spec.chunkSeconds), '--data-root', dataRoot],
    ...['--nats', servers.nats.url, '--stream', names.stream, '--subject-prefix', names.subjectPrefix],
    ...(options.probe ? ['--probe'] : []),
  ];
  try {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((done, fail) => {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      // The bench exits on a signal after its cleanup: the child must not outlive it.
      const kill = (): void => {
        child.kill('SIGKILL');
      };
      process.once('exit', kill);
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.on('error', (e) => {
        process.removeListener('exit', kill);
        fail(e);
      });
      child.on('close', (c, signal) => {
        process.removeListener('exit', kill);
        done({ code: c ?? (signal ? 1 : 0), stdout: out, stderr: err });
      });
    });
    if (code !== 0) throw new Error(`grab child (${spec.hours} h) exited with ${code}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`);
    if (stderr.trim()) log(`grab child: ${stderr.trim()}`);
    const line = stdout.trim().split('\n').at(-1) ?? '';
    const report = JSON.parse(line) as GrabChildReport;
    if (!options.probe && report.run === null) throw new Error(`grab child (${spec.hours} h) reported no run`);
    return report;
  } finally {
    await deleteStream(servers.jsm, names);
    rmSync(dataRoot, { recursive: true, force: true });
  }
};

const mb = (bytes: number): number => bytes / MB;

const childRate = (report: GrabChildReport): number =>
  report.run === null ? NaN : report.run.samples / (report.run.wallMs / 1000);

/**
 * A grab run of `parameters` simulated parameters over `hours` at `rateHz`, end to end through
 * the ActorRuntime on the bench's JetStream, against raw reads of the same samples and raw
 * writes of the same bytes; then the same grab over a quarter of the window and over the whole
 * window, each in a child process of its own, for their peak memory.
 */
export const runGrabBench = async (servers: BenchServers, options: GrabBenchOptions, log: Log): Promise<Measured> => {
  const spec: GrabSpec = {
    parameters: options.parameters,
    hours: options.hours,
    rateHz: options.rateHz,
    chunkSeconds: options.chunkSeconds,
  };
  const samples = expectedSamples(spec);
  const label = `${spec.parameters} params x ${fmt(spec.hours, spec.hours % 1 === 0 ? 0 : 1)} h @ ${fmt(spec.rateHz, spec.rateHz % 1 === 0 ? 0 : 2)} Hz`;
  const root = join(servers.scratch, 'grab');
  mkdirSync(root, { recursive: true });

  // Warm-up: the same parameters over a twenty-fourth of the window (at least a chunk), every path.
  const warm: GrabSpec = { ...spec, hours: Math.min(spec.hours, Math.max(spec.chunkSeconds / 3_600, spec.hours / 24)) };
  log(`grab: warm-up (${warm.hours} h)`);
  await grabInProcess(servers, warm, join(root, 'warm'));
  await rawRead(warm);
  await rawWrite(warm, root);

  const runs: InProcessRun[] = [];
  const reads: Rate[] = [];
  const writes: Rate[] = [];
  for (let rep = 0; rep < options.repeat; rep++) {
    // The baselines run before and after each grab; their mean stands beside it.
    const readBefore = await rawRead(spec);
    const writeBefore = await rawWrite(spec, root);
    log(`grab: run ${rep + 1}/${options.repeat}: ${label}, ${fmt(samples)} samples, through the runtime on JetStream`);
    const run = await grabInProcess(servers, spec, join(root, `run-${rep}`));
    const readAfter = await rawRead(spec);
    const writeAfter = await rawWrite(spec, root);
    runs.push(run);
    reads.push(rateOf(samples, (readBefore.ms + readAfter.ms) / 2));
    writes.push(rateOf(samples, (writeBefore.ms + writeAfter.ms) / 2));
    const g = run.grab;
    log(
      `grab: run ${rep + 1}/${options.repeat}: ${fmt(samples / (g.wallMs / 1000))} samples/s (${fmt(g.wallMs / 1000, 1)} s: fetch ${fmt(g.fetchMs / 1000, 1)} s, assemble ${fmt(g.assembleMs / 1000, 1)} s), raw read ${fmt(reads.at(-1)!.rate)}/s, raw write ${fmt(writes.at(-1)!.rate)}/s`,
    );
  }

  // Peak memory: a quarter of the window, then the whole window, each in its own process.
  const short: GrabSpec = { ...spec, hours: spec.hours / 4 };
  log(`grab: memory: child process, ${short.hours} h window`);
  const childShort = await runChild(servers, short, join(root, 'child-short'), log, { preloadH5wasm: true });
  log(`grab: memory: child process, ${spec.hours} h window`);
  const childLong = await runChild(servers, spec, join(root, 'child-long'), log, { preloadH5wasm: true });
  log('grab: memory: the floor of a grab process, h5wasm loaded through tsx and preloaded');
  const probeTsx = await runChild(servers, short, join(root, 'probe-tsx'), log, { preloadH5wasm: false, probe: true });
  const probePre = await runChild(servers, short, join(root, 'probe-pre'), log, { preloadH5wasm: true, probe: true });
  rmSync(root, { recursive: true, force: true });

  const grabRates = runs.map((r) => samples / (r.grab.wallMs / 1000));
  const fetchRates = runs.map((r) => samples / (r.grab.fetchMs / 1000));
  const assembleRates = runs.map((r) => samples / (r.grab.assembleMs / 1000));
  const readRates = reads.map((r) => r.rate);
  const writeRates = writes.map((r) => r.rate);
  const grabRate = median(grabRates);
  const chunks = runs[0]!.grab.chunks;
  const cpuNode = median(runs.map((r) => r.cpu.nodeUs));
  const cpuNats = median(runs.map((r) => r.cpu.natsUs));
  const wallUs = 1e6 / grabRate;

  const rssRatio = childLong.maxRss / childShort.maxRss;
  const heapRatio = childLong.peakHeapUsed / childShort.peakHeapUsed;
  const growthShort = childShort.maxRss - childShort.rssBefore;
  const growthLong = childLong.maxRss - childLong.rssBefore;
  const memLabel = `${fmt(short.hours, short.hours % 1 === 0 ? 0 : 2)} h window`;
  const rows: BenchRow[] = [
    {
      key: 'grab.rate',
      measurement: `grab run, ${label}, end to end`,
      daqflow: grabRate,
      baseline: median(readRates),
      ratio: pairedRatio(grabRates, readRates),
      unit: 'samples/s',
      baselineLabel: 'raw read of the same samples from the simulator (fetchSamples, one call per parameter)',
      target: '> 1 M samples/s',
      result: grabRate > 1_000_000 ? 'PASS' : 'MISS',
    },
    {
      key: 'grab.vsWrite',
      measurement: '  same, against raw fs write of its bytes once',
      daqflow: grabRate,
      baseline: median(writeRates),
      ratio: pairedRatio(grabRates, writeRates),
      unit: 'samples/s',
      baselineLabel: `sequential fs write of 16 B/sample (${fmt(samples * SAMPLE_BYTES / MB)} MB) in 1 MiB blocks + fsync`,
      target: '-',
      result: 'INFO',
    },
    {
      key: 'grab.fetch',
      measurement: `  part: fetch phase (${fmt(chunks)} chunks -> work files)`,
      daqflow: median(fetchRates),
      baseline: median(readRates),
      ratio: pairedRatio(fetchRates, readRates),
      unit: 'samples/s',
      baselineLabel: 'raw read of the same samples from the simulator (fetchSamples, one call per parameter)',
      target: '-',
      result: 'INFO',
    },
    {
      key: 'grab.assemble',
      measurement: '  part: assemble phase (work files -> HDF5)',
      daqflow: median(assembleRates),
      baseline: median(writeRates),
      ratio: pairedRatio(assembleRates, writeRates),
      unit: 'samples/s',
      baselineLabel: `sequential fs write of 16 B/sample (${fmt(samples * SAMPLE_BYTES / MB)} MB) in 1 MiB blocks + fsync`,
      target: '-',
      result: 'INFO',
    },
    {
      key: 'grab.peakRss',
      measurement: `peak RSS of a grab process, ${fmt(spec.hours)} h vs ${memLabel}`,
      daqflow: mb(childLong.maxRss),
      baseline: mb(childShort.maxRss),
      ratio: rssRatio,
      unit: 'MB',
      baselineLabel: `the same grab over a ${memLabel}, in a process of its own (maxRSS)`,
      target: '<= 1.25 (ratio)',
      result: rssRatio <= 1.25 ? 'PASS' : 'MISS',
    },
    {
      key: 'grab.rssGrowth',
      measurement: `  peak RSS above the process floor, ${fmt(spec.hours)} h vs ${memLabel}`,
      daqflow: mb(growthLong),
      baseline: mb(growthShort),
      ratio: growthLong / growthShort,
      unit: 'MB',
      baselineLabel: `the same, maxRSS minus the RSS before the run (modules loaded, h5wasm ready, connected)`,
      target: '-',
      result: 'INFO',
    },
    {
      key: 'grab.peakHeap',
      measurement: `  peak V8 heap used, ${fmt(spec.hours)} h vs ${memLabel}`,
      daqflow: mb(childLong.peakHeapUsed),
      baseline: mb(childShort.peakHeapUsed),
      ratio: heapRatio,
      unit: 'MB',
      baselineLabel: `the same, peak of process.memoryUsage().heapUsed sampled every 20 ms`,
      target: '-',
      result: 'INFO',
    },
    {
      key: 'grab.floorTsx',
      measurement: '  floor: RSS with h5wasm loaded through tsx',
      daqflow: mb(probeTsx.maxRss),
      baseline: mb(probePre.maxRss),
      ratio: probeTsx.maxRss / probePre.maxRss,
      unit: 'MB',
      baselineLabel: 'the same process with h5wasm imported before tsx is registered (as the memory children run)',
      target: '-',
      result: 'INFO',
    },
  ];
  const g = runs[Math.floor(runs.length / 2)]!.grab;
  const notes = [
    `grab: ${fmt(samples)} samples in ${fmt(chunks)} chunks of ${fmt(spec.chunkSeconds)} s (${fmt(chunks + 2)} events), wall ${fmt(g.wallMs / 1000, 1)} s = ${fmt(wallUs, 2)} us/sample, ${fmt(g.wallMs / chunks, 2)} ms/chunk; CPU ${fmt(cpuNode, 2)} us/sample in node + ${fmt(cpuNats, 3)} in nats-server`,
    `grab: work files ${fmtMB(g.workBytes)}, HDF5 ${fmtMB(g.fileBytes ?? 0)}; raw read ${fmt(median(readRates))} samples/s, raw write ${fmt(median(writeRates) * SAMPLE_BYTES / MB)} MB/s`,
    `grab memory (children on the bench's JetStream, h5wasm preloaded): ${memLabel} maxRSS ${fmtMB(childShort.maxRss)} (floor ${fmtMB(childShort.rssBefore)}, ${fmt(childRate(childShort))} samples/s), ${fmt(spec.hours)} h maxRSS ${fmtMB(childLong.maxRss)} (floor ${fmtMB(childLong.rssBefore)}, ${fmt(childRate(childLong))} samples/s); peak external ${fmtMB(childShort.peakExternal)} vs ${fmtMB(childLong.peakExternal)}`,
    `grab floor: importing h5wasm through tsx's loader (as bin/daqflow.js does) costs ${fmtMB(probeTsx.maxRss - probePre.maxRss)} of RSS and the process takes ${fmt(probeTsx.startupMs)} ms to load, against ${fmt(probePre.startupMs)} ms preloaded`,
  ];
  return {
    rows,
    notes,
    details: {
      spec,
      samples,
      repeat: options.repeat,
      runs: runs.map((r) => ({ ...r.grab, cpu: r.cpu, rate: samples / (r.grab.wallMs / 1000) })),
      rawRead: reads,
      rawWrite: writes,
      rawWriteMBps: writes.map((w) => (w.rate * SAMPLE_BYTES) / MB),
      memory: { short: childShort, long: childLong, probeTsx, probePreloaded: probePre },
    },
  };
};
