/**
 * daqflow bench: measures the event store, projections, rehydration and live-actor memory
 * against baselines run beside them, and prints one table (see bench/README.md).
 *
 *   npm run bench -- [--events 20000 --actors 1000 ...]     (--help lists every option)
 *
 * Needs global.gc for the memory row: without --expose-gc it re-runs itself under
 * `node --expose-gc --import tsx`.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runAppendBench } from './appendBench.js';
import { runMemoryBench } from './memoryBench.js';
import { parseOptions, usage, type BenchOptions, type MeasurementName } from './options.js';
import { runProjectorLagBench } from './projectorLagBench.js';
import { runRebuildBench } from './rebuildBench.js';
import { runRehydrateBench } from './rehydrateBench.js';
import type { BenchRow, Log, Measured } from './result.js';
import { Cleanup, startBenchServers, type BenchServers } from './servers.js';
import { fmt, fmtMs, textTable } from './stats.js';

const here = dirname(fileURLToPath(import.meta.url));

/** Re-runs this script under `node --expose-gc --import tsx`, passing signals on; resolves to its exit code. */
const reexecWithGc = (): Promise<number> => {
  let loader = 'tsx';
  try {
    loader = import.meta.resolve('tsx');
  } catch {
    // Resolved by node from the working directory instead.
  }
  const child = spawn(process.execPath, ['--expose-gc', '--import', loader, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, DAQFLOW_BENCH_REEXEC: '1' },
  });
  const forward = (signal: NodeJS.Signals) => (): void => {
    child.kill(signal);
  };
  process.on('SIGINT', forward('SIGINT'));
  process.on('SIGTERM', forward('SIGTERM'));
  return new Promise((done) => {
    child.on('exit', (code, signal) => done(code ?? (signal ? 1 : 0)));
    child.on('error', (e) => {
      process.stderr.write(`bench: cannot re-run with --expose-gc: ${e.message}\n`);
      done(1);
    });
  });
};

const unitText = (value: number | null, unit: string): string => {
  if (value === null) return '-';
  switch (unit) {
    case 'ms':
      return fmtMs(value);
    case 'ev/s':
      return `${fmt(value)} ev/s`;
    case 'samples/s':
      return `${fmt(value)} samples/s`;
    case 'MB':
      return `${fmt(value, 1)} MB`;
    case 'B':
      return `${fmt(value)} B`;
    case 'Hz':
    case 'MB/s':
      return `${fmt(value)} ${unit}`;
    default:
      return `${fmt(value, 2)} ${unit}`;
  }
};

const tableOf = (rows: readonly BenchRow[]): string =>
  textTable(
    ['measurement', 'daqflow', 'baseline', 'ratio', 'target', 'result'],
    rows.map((r) => [
      r.measurement,
      unitText(r.daqflow, r.unit),
      unitText(r.baseline, r.unit),
      r.ratio === null ? '-' : fmt(r.ratio, 2),
      r.target,
      r.result,
    ]),
  );

const run = async (options: BenchOptions, log: Log): Promise<number> => {
  const startedAt = new Date();
  const cleanup = new Cleanup();
  let interrupted = false;
  // Kept installed until the end: a second signal (Ctrl-C reaches both this process and the
  // re-running parent, which passes it on) must not kill the process halfway through cleanup.
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    log(`bench: ${signal}, cleaning up`);
    void cleanup.runAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const rows: BenchRow[] = [];
  const notes: string[] = [];
  const details: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  let machine: Record<string, unknown> = {};
  try {
    const servers: BenchServers = await startBenchServers(cleanup, log);
    const cpus = os.cpus();
    machine = {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model ?? 'unknown',
      memoryGB: Math.round(os.totalmem() / 2 ** 30),
      platform: `${os.platform()} ${os.release()}`,
      node: process.version,
      natsServer: servers.natsVersion,
      postgres: `${servers.pgVersion} (${servers.pgSource})`,
      loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
    };
    const eventsPerActor = Math.max(1, Math.round(options.events / options.actors));
    const sizes = {
      appendEvents: options.actors * eventsPerActor,
      appendActors: options.actors,
      latencyOps: options.latencyOps,
      rebuildEvents: options.rebuildActors * Math.max(1, Math.round(options.rebuildEvents / options.rebuildActors)),
      rebuildActors: options.rebuildActors,
      rehydrateEvents: options.rehydrateEvents,
      folds: options.folds,
      reads: options.reads,
      liveActors: options.liveActors,
      memoryStore: options.memoryStore,
      grab: `${options.grabParameters}x${options.grabHours}h@${options.grabRateHz}Hz/${options.grabChunkSeconds}s`,
      grabRepeat: options.grabRepeat,
      lag: `${options.lagRates.join(',')} ev/s, ${options.lagPlacements.join(',')}, ${options.lagSeconds} s`,
      repeat: options.repeat,
      only: options.only,
    };
    process.stdout.write(
      [
        `daqflow bench, ${startedAt.toISOString()}`,
        `machine: ${machine.cpus} x ${machine.cpuModel}, ${machine.memoryGB} GB, ${machine.platform}, load ${(machine.loadAverageAtStart as number[]).join(' ')}`,
        `node ${process.version}, ${servers.natsVersion}, PostgreSQL ${machine.postgres}`,
        `sizes: ${Object.entries(sizes)
          .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
          .join(' ')}`,
        '',
      ].join('\n') + '\n',
    );
    details.sizes = sizes;

    const measurements: Record<MeasurementName, () => Promise<Measured>> = {
      append: () =>
        runAppendBench(servers, { actors: options.actors, eventsPerActor, latencyOps: options.latencyOps, repeat: options.repeat }, log),
      rebuild: () =>
        runRebuildBench(
          servers,
          { events: options.rebuildEvents, actors: options.rebuildActors, repeat: options.repeat, batchSize: 1_000 },
          log,
        ),
      rehydrate: () =>
        runRehydrateBench(servers, { events: options.rehydrateEvents, folds: options.folds, reads: options.reads }, log),
      memory: () =>
        runMemoryBench(servers, { actors: options.liveActors, store: options.memoryStore, concurrency: 64 }, log),
      projectorLag: () =>
        runProjectorLagBench(servers, { rates: options.lagRates, placements: options.lagPlacements, seconds: options.lagSeconds }, log),
      // Imported when run: the grab pulls in h5wasm, which tsx's loader makes slow and large to load.
      grab: async () =>
        (await import('./grabBench.js')).runGrabBench(
          servers,
          {
            parameters: options.grabParameters,
            hours: options.grabHours,
            rateHz: options.grabRateHz,
            chunkSeconds: options.grabChunkSeconds,
            repeat: options.grabRepeat,
          },
          log,
        ),
      // Imported when run, as the grab: it pulls in h5wasm and zeromq. Options from DAQFLOW_BENCH_ACQ_*.
      acquisition: async () => {
        const bench = await import('./acquisitionBench.js');
        return bench.runAcquisitionBench(servers, bench.acquisitionBenchOptions(), log);
      },
    };
    for (const name of options.only) {
      const t = performance.now();
      try {
        const measured = await measurements[name]();
        rows.push(...measured.rows);
        notes.push(...(measured.notes ?? []));
        details[name] = { ...measured.details, seconds: (performance.now() - t) / 1000 };
        log(`${name}: done in ${((performance.now() - t) / 1000).toFixed(1)} s`);
      } catch (e) {
        // After a signal, the servers are going away under the measurement: not worth a report.
        if (interrupted) break;
        errors[name] = e instanceof Error ? (e.stack ?? e.message) : String(e);
        log(`${name}: FAILED: ${errors[name]}`);
      }
    }
  } catch (e) {
    errors.setup = e instanceof Error ? (e.stack ?? e.message) : String(e);
    log(`bench setup FAILED: ${errors.setup}`);
  } finally {
    await cleanup.runAll();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }

  const finishedAt = new Date();
  const seconds = (finishedAt.getTime() - startedAt.getTime()) / 1000;
  machine.loadAverageAtEnd = os.loadavg().map((l) => Math.round(l * 100) / 100);
  const baselines = [...new Map(rows.filter((r) => r.baselineLabel).map((r) => [r.key, r])).values()];
  process.stdout.write(
    [
      tableOf(rows),
      '',
      'baselines:',
      ...baselines.map((r) => `  ${r.key.padEnd(22)} ${r.baselineLabel}`),
      '',
      'notes:',
      ...notes.map((n) => `  ${n}`),
      '',
      ...Object.entries(errors).map(([k, v]) => `ERROR in ${k}: ${v.split('\n')[0]}`),
      `total ${seconds.toFixed(1)} s, load ${(machine.loadAverageAtEnd as number[]).join(' ')} at the end`,
    ].join('\n') + '\n',
  );

  const outDir = resolve(options.outDir ?? join(here, 'out'));
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ startedAt: startedAt.toISOString(), seconds, machine, options, rows, notes, details, errors }, null, 2)}\n`,
  );
  process.stdout.write(`json: ${file}\n`);
  return Object.keys(errors).length === 0 ? 0 : 1;
};

const main = async (): Promise<number> => {
  const log: Log = (line) => process.stderr.write(`${line}\n`);
  let options: BenchOptions | 'help';
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n\n${usage()}\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  if (typeof (globalThis as { gc?: unknown }).gc !== 'function') {
    if (process.env.DAQFLOW_BENCH_REEXEC === '1') {
      process.stderr.write('bench: global.gc is still missing after re-running with --expose-gc\n');
      return 1;
    }
    return reexecWithGc();
  }
  return run(options, log);
};

process.exitCode = await main();
