import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { AcquisitionView } from '../../actors/acquisitions/index.js';
import { defaultSimulatedChannels, startBsreadSimulator, type ExpectedPulse } from '../../adapters/bsread/bsreadSimulator.js';
import { createSimulatorSource } from '../../adapters/dataLogger/simulator.js';
import { freePort } from '../../adapters/embedded/freePort.js';
import { startNatsServer, type RunningNatsServer } from '../../adapters/embedded/natsServer.js';
import { REPORT_WORK_FOLDER } from '../../adapters/jobs/reports/prepareReportStart.js';
import type { RecordedEvent } from '../../events/envelope.js';
import {
  apiRequest,
  foldStatus,
  projectedStatus,
  readWholeStream,
  streamLastPosition,
  useE2eEnvironments,
  versionProblems,
  waitFor,
  waitForProjector,
  type DaqflowEnvironment,
} from '../e2e/e2eHelpers.js';
import { collectSamples } from '../fakes/collectSamples.js';
import { startFakeArchiverAppliance, type FakeArchiverServer, type FakeRequest } from '../fakes/archiverApplianceServer.js';
import { killAllDaqflowProcesses, startDaqflowProcess, type DaqflowProcess } from '../harness/daqflowProcess.js';
import { readGrabFile } from '../harness/readGrabFile.js';
import { checkReportSite, insertFixtureStatistics } from '../harness/reportChecks.js';
import type { ReportView } from '../harness/reportDaqflow.js';
import { checkFileAgainstSimulator } from '../harness/swissfelReadBack.js';

/*
 * Fault tier: the nats-server under a running `daqflow up` (a child process) stops for a few
 * seconds while a grab run, a report and an acquisition are in flight, and comes back on the same
 * port and store. The process must ride it out: every job completes with correct files, no
 * effect runs twice, and the projections end equal to the stream.
 *
 * The nats-server is this file's own (the run's shared one serves other spec files at the same
 * time); PostgreSQL is the run's.
 */

const OUTAGE_MS = 4_000;

// 2 parameters, one hour in 5-minute chunks: 24 archiver requests, fetched one after the other.
// With the latency the grab lasts well over ten seconds, so it is mid-way when NATS goes.
const GRAB_PARAMETERS = ['SIM:SINE', 'SIM:RAMP'];
const GRAB_WINDOW = { startAt: '2026-11-20T00:00:00Z', stopAt: '2026-11-20T01:00:00Z' };
const CHUNK_SECONDS = 300;
const CHUNK_LATENCY_MS = 400;
const ARCHIVER_RATE_HZ = 2;

const ACQUISITION_PULSES = 600;
/** How far ahead of the stream's newest pulse the acquisition starts (100 Hz: 1.5 s). */
const ACQUISITION_LEAD_PULSES = 150;

/** The report: one job draws trend plots of fixture statistics, the other waits for a gate file. */
const TREND_PARAMETER = 'FAULT:TEMPERATURE';
const GATED_PARAMETER = 'FAULT:GATED';

interface GrabReply {
  id: string;
  state: string;
  final: boolean;
  outputFile?: string | null;
  error?: string;
  progress?: { chunksDone: number; chunksTotal: number; samples: number };
}

const e2e = useE2eEnvironments('nats-fault');
let scratch: string;
let natsStore: string;
let natsLog: string;
let natsPort: number;
let natsUrl: string;
let nats: RunningNatsServer | undefined;
let archiver: FakeArchiverServer | undefined;
let nc: NatsConnection | undefined;
let environment: DaqflowEnvironment;
let dataRoot: string;
let gateFile: string;
let gateRuns: string;
let env: Record<string, string>;

const startOwnNats = (): Promise<RunningNatsServer> => startNatsServer({ port: natsPort, storeDir: natsStore, logFile: natsLog });

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'daqflow-fault-nats-'));
  natsStore = join(scratch, 'nats');
  natsLog = join(scratch, 'nats.log');
  // Fixed once: the restarted server must be found where the process last saw it.
  natsPort = await freePort();
  nats = await startOwnNats();
  natsUrl = nats.url;
  archiver = await startFakeArchiverAppliance({ source: createSimulatorSource({ seed: 'fault-nats', rateHz: ARCHIVER_RATE_HZ }) });
  environment = await e2e.create();
  await insertFixtureStatistics(environment.database.db, { parameter: TREND_PARAMETER, units: 'degC', runs: 14 });
  dataRoot = join(scratch, 'data');
  mkdirSync(dataRoot, { recursive: true });
  gateFile = join(scratch, 'gate');
  gateRuns = join(scratch, 'gated-runs.log');
  env = {
    ...environment.env,
    DAQFLOW_NATS_URL: natsUrl,
    DAQFLOW_ARCHIVER_URL: archiver.url,
    DAQFLOW_DATA_ROOT: dataRoot,
    // 'NATS is back' is an info line.
    DAQFLOW_LOG_LEVEL: 'info',
  };
  // The test's own client rides the outage too, so that it can ask again once the server is back.
  nc = await connect({ servers: natsUrl, name: 'fault-nats-client', maxReconnectAttempts: -1, reconnectTimeWait: 250 });
});

afterEach(async () => {
  await killAllDaqflowProcesses();
});

afterAll(async () => {
  await nc?.close().catch(() => undefined);
  await archiver?.close();
  await nats?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const subject = (group: string, verb: string): string => `${environment.prefix}.${group}.${verb}`;

const client = (): NatsConnection => {
  if (!nc) throw new Error('no NATS client');
  return nc;
};

const startJob = async <T>(group: string, body: Record<string, unknown>): Promise<T> => {
  const outcome = await apiRequest(client(), subject(group, 'start'), body, 30_000);
  if (outcome.kind !== 'ok') throw new Error(`${group}.start refused: ${JSON.stringify(outcome)}`);
  return outcome.body as T;
};

/** A job's view; undefined while the API cannot be reached (as during the outage). */
const getJob = async <T>(group: string, id: string): Promise<T | undefined> => {
  const outcome = await apiRequest(client(), subject(group, 'get'), { id }, 3_000);
  return outcome.kind === 'ok' ? (outcome.body as T) : undefined;
};

const untilFinal = <T extends { final?: boolean }>(group: string, id: string, timeoutMs: number): Promise<T> => {
  let last: T | undefined;
  return waitFor(
    () => `${group} ${id} to end; last seen ${JSON.stringify(last)}`,
    async () => {
      last = (await getJob<T>(group, id)) ?? last;
      return last?.final ? last : undefined;
    },
    timeoutMs,
    250,
  );
};

const requestKey = (pv: string, fromMs: number, toMs: number): string => `${pv} ${new Date(fromMs).toISOString()} ${new Date(toMs).toISOString()}`;

/** The archiver requests the grab must make: each parameter over each chunk of the window, once. */
const chunkPlan = (): string[] => {
  const start = Date.parse(GRAB_WINDOW.startAt);
  const stop = Date.parse(GRAB_WINDOW.stopAt);
  const keys: string[] = [];
  for (const pv of GRAB_PARAMETERS) {
    for (let from = start; from < stop; from += CHUNK_SECONDS * 1000) keys.push(requestKey(pv, from, Math.min(stop, from + CHUNK_SECONDS * 1000)));
  }
  return keys.sort();
};

/** Requests for the window's data (a parameter check asks about the last second before now instead). */
const windowRequests = (): string[] =>
  (archiver?.requests() ?? [])
    .filter((r: FakeRequest) => r.from?.startsWith('2026-11-20') === true)
    .map((r) => requestKey(r.pv ?? '', Date.parse(r.from ?? ''), Date.parse(r.to ?? '')));

const duplicates = (keys: readonly string[]): string[] => {
  const seen = new Map<string, number>();
  for (const k of keys) seen.set(k, (seen.get(k) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([k, n]) => `${k} ×${n}`);
};

/**
 * What the process's simulated bsread stream sends for pulse p. The options repeat those of
 * startDefaultSimulator, which does not export them: if they drift apart, the read-back fails.
 */
const simulatedStream = async (): Promise<(pulseId: number) => ExpectedPulse | undefined> => {
  const mirror = await startBsreadSimulator({
    address: `inproc://fault-nats-expected-${environment.token}`,
    rateHz: 1,
    channels: defaultSimulatedChannels({ imageWidth: 64, imageHeight: 48, waveformLength: 256 }),
    missingEvery: 97,
    startPulseId: 0,
    maxMessages: 1,
  });
  await mirror.stop();
  return (p) => mirror.expected(p);
};


/** The `msg` of every JSON log line (pino writes one object per line on stderr). */
const logMessages = (stderr: string): string[] =>
  stderr.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return [];
    try {
      const parsed = JSON.parse(line) as { msg?: unknown };
      return typeof parsed.msg === 'string' ? [parsed.msg] : [];
    } catch {
      return [];
    }
  });

const isAlive = (up: DaqflowProcess): boolean => up.child.exitCode === null && up.child.signalCode === null;

describe('daqflow up while its nats-server stops and comes back', () => {
  it('keeps running; the grab, report and acquisition in flight complete, no effect runs twice, the projections equal the stream', async () => {
    const t0 = Date.now();
    const up = await startDaqflowProcess({ env });
    // What the process did is the first thing to read when a job never ends.
    onTestFailed(() => {
      console.error(`--- daqflow up stderr (tail) ---\n${up.stderr().split('\n').slice(-80).join('\n')}\n--- nats-server log (tail) ---\n${existsSync(natsLog) ? readFileSync(natsLog, 'utf8').split('\n').slice(-20).join('\n') : ''}`);
    });

    // --- the report first: its gated job holds it running for as long as the test needs -------
    const gatedCommand = [
      `echo run >> '${gateRuns}'`,
      // Bounded, so that a gate never opened fails the job instead of leaving it behind.
      `i=0; while [ ! -e '${gateFile}' ]; do i=$((i+1)); if [ $i -gt 1200 ]; then exit 3; fi; sleep 0.05; done`,
      `mkdir -p "$DAQFLOW_REPORT_OUT/FAULT" && echo released > "$DAQFLOW_REPORT_OUT/FAULT/gated.txt"`,
    ].join('; ');
    const report = await startJob<ReportView>('reports', {
      mode: 'local',
      runner: 'local',
      requestId: `fault-report-${environment.token}`,
      config: {
        global: {
          title: 'NATS outage report',
          outFolder: 'reports',
          jobUpdateIntervalSeconds: 1,
          jobTimeoutSeconds: 120,
          timeZone: 'UTC',
          range: { from: '2026-11-01', to: '2026-11-15' },
          plot: { width: 400, height: 200 },
        },
        instruments: {
          FAULT: {
            detectors: {
              trend: { parameters: [TREND_PARAMETER] },
              gated: { parameters: [GATED_PARAMETER], command: ['sh', '-c', gatedCommand] },
            },
          },
        },
      },
    });
    expect(report.runner).toBe('local');
    let reportSeen: ReportView | undefined;
    await waitFor(
      () => `the report's gated job to run; last seen ${JSON.stringify(reportSeen)}`,
      async () => {
        reportSeen = (await getJob<ReportView>('reports', report.id)) ?? reportSeen;
        const gated = reportSeen?.jobs.find((j) => j.key === 'FAULT.gated');
        return existsSync(gateRuns) && gated?.state === 'running' ? true : undefined;
      },
      20_000,
      250,
    );

    // --- the acquisition, a little ahead of the stream, and the grab --------------------------
    // The simulated stream counts pulses at 100 Hz from the epoch (never ahead of the clock).
    const firstPulse = Math.floor(Date.now() / 10) + ACQUISITION_LEAD_PULSES;
    const lastPulse = firstPulse + ACQUISITION_PULSES - 1;
    const acquisition = await startJob<AcquisitionView>('acquisitions', {
      outputFile: 'acq/outage.h5',
      startPulseId: firstPulse,
      stopPulseId: lastPulse,
      metadata: { user: 'fault' },
      requestId: `fault-acquisition-${environment.token}`,
    });
    expect([acquisition.startPulseId, acquisition.stopPulseId]).toEqual([firstPulse, lastPulse]);

    archiver!.setLatency(CHUNK_LATENCY_MS);
    const grab = await startJob<GrabReply>('grabs', {
      parameters: GRAB_PARAMETERS,
      ...GRAB_WINDOW,
      chunkSeconds: CHUNK_SECONDS,
      outDir: 'grab',
      requestId: `fault-grab-${environment.token}`,
    });
    const plan = chunkPlan();
    expect(grab.progress?.chunksTotal).toBe(plan.length);

    let acquisitionSeen: AcquisitionView | undefined;
    await waitFor(
      () => `the acquisition to write and the grab's first chunk to be asked for; acquisition ${JSON.stringify(acquisitionSeen)}, ${windowRequests().length} chunk requests`,
      async () => {
        acquisitionSeen = (await getJob<AcquisitionView>('acquisitions', acquisition.id)) ?? acquisitionSeen;
        return acquisitionSeen?.state === 'writing' && windowRequests().length >= 1 ? true : undefined;
      },
      20_000,
      100,
    );
    const grabBefore = await getJob<GrabReply>('grabs', grab.id);
    const requestedBefore = windowRequests();
    // Otherwise the outage would test nothing about the grab.
    expect(grabBefore?.final, `the grab ended before the outage: ${JSON.stringify(grabBefore)}`).toBe(false);
    expect(requestedBefore.length).toBeLessThan(plan.length);

    // --- the outage ---------------------------------------------------------------------------
    const running = nats!;
    nats = undefined;
    await running.stop();
    const downAt = Date.now();
    await waitFor('daqflow to log that NATS is not reachable', async () => (up.stderr().includes('NATS is not reachable') ? true : undefined), OUTAGE_MS, 50);
    // The gated job ends while NATS is away: the report learns it from a poll that must wait for NATS.
    writeFileSync(gateFile, '');
    await sleep(Math.max(0, OUTAGE_MS - (Date.now() - downAt)));
    expect(isAlive(up), `daqflow up exited during the outage\n${up.stderr().slice(-3_000)}`).toBe(true);
    nats = await startOwnNats();
    const outageMs = Date.now() - downAt;
    expect(outageMs).toBeGreaterThanOrEqual(OUTAGE_MS);
    await waitFor('daqflow to log that NATS is back', async () => (up.stderr().includes('NATS is back') ? true : undefined), 15_000, 100);

    // --- every job completes ----------------------------------------------------------------
    const [grabDone, acquisitionDone, reportDone] = await Promise.all([
      untilFinal<GrabReply>('grabs', grab.id, 40_000),
      untilFinal<AcquisitionView>('acquisitions', acquisition.id, 40_000),
      untilFinal<ReportView>('reports', report.id, 40_000),
    ]);
    expect(isAlive(up), `daqflow up exited\n${up.stderr().slice(-3_000)}`).toBe(true);
    expect(grabDone.state, grabDone.error).toBe('completed');
    expect(acquisitionDone.state, acquisitionDone.error ?? undefined).toBe('completed');
    expect(reportDone.state, reportDone.error).toBe('completed');

    const events = await readWholeStream(natsUrl, environment.stream, environment.prefix);
    const of = (id: string): RecordedEvent[] => events.filter((e) => e.actorId === id);
    expect(versionProblems(events), 'actor versions are 1..n, each once').toEqual([]);

    // Grab: each chunk asked of the archiver exactly once, across the outage; one chunkWritten each.
    const requested = windowRequests();
    expect(duplicates(requested), 'chunks asked for more than once').toEqual([]);
    expect([...requested].sort()).toEqual(plan);
    const chunkIndices = of(grab.id)
      .filter((e) => e.type === 'chunkWritten')
      .map((e) => (e.data as { index: number }).index);
    expect(chunkIndices.sort((a, b) => a - b)).toEqual(plan.map((_, i) => i));
    // The file holds exactly what the archiver serves for the window.
    const file = await readGrabFile(grabDone.outputFile ?? '');
    expect([...file.series.keys()].sort()).toEqual([...GRAB_PARAMETERS].sort());
    const source = createSimulatorSource({ seed: 'fault-nats', rateHz: ARCHIVER_RATE_HZ });
    for (const parameter of GRAB_PARAMETERS) {
      const served = await collectSamples(source, parameter, new Date(GRAB_WINDOW.startAt), new Date(GRAB_WINDOW.stopAt));
      const series = file.series.get(parameter);
      expect(series?.times.length, parameter).toBe(ARCHIVER_RATE_HZ * 3_600);
      expect(Array.from(series?.times ?? []), `${parameter} times`).toEqual(served.times);
      expect(Array.from(series?.values ?? []), `${parameter} values`).toEqual(served.values);
    }

    // Acquisition: one start, every pulse of its range in the file.
    expect(of(acquisition.id).filter((e) => e.type === 'started')).toHaveLength(1);
    expect(of(acquisition.id).filter((e) => e.type === 'finished')).toHaveLength(1);
    expect([acquisitionDone.firstPulseId, acquisitionDone.lastPulseId, acquisitionDone.pulsesWritten, acquisitionDone.missingPulses]).toEqual([
      firstPulse,
      lastPulse,
      ACQUISITION_PULSES,
      0,
    ]);
    const acquisitionFile = join(dataRoot, 'acq', 'outage.h5');
    expect(acquisitionDone.outputFile).toBe(acquisitionFile);
    const readBack = await checkFileAgainstSimulator(acquisitionFile, await simulatedStream(), { first: firstPulse, last: lastPulse });
    expect(readBack.rows).toBe(ACQUISITION_PULSES);
    expect(readdirSync(join(dataRoot, 'acq'))).toEqual(['outage.h5']);

    // Report: each job submitted once (one jobSubmitted per job, one runner folder per job, the
    // gated command started once), and the published site complete.
    const submitted = of(report.id)
      .filter((e) => e.type === 'jobSubmitted')
      .map((e) => e.data as { jobKey: string; found: boolean });
    expect(submitted.map((s) => s.jobKey).sort()).toEqual(['FAULT.gated', 'FAULT.trend']);
    expect(submitted.every((s) => !s.found)).toBe(true);
    expect(of(report.id).filter((e) => e.type === 'jobSubmitFailed')).toEqual([]);
    expect(readdirSync(join(dataRoot, REPORT_WORK_FOLDER, 'local-runner')).filter((name) => name.startsWith(`daqflow-${report.id}-`)).sort()).toEqual([
      `daqflow-${report.id}-FAULT.gated`,
      `daqflow-${report.id}-FAULT.trend`,
    ]);
    expect(readFileSync(gateRuns, 'utf8')).toBe('run\n');
    expect(reportDone.jobs.map((j) => [j.key, j.state, j.exitCode])).toEqual([
      ['FAULT.trend', 'completed', 0],
      ['FAULT.gated', 'completed', 0],
    ]);
    const published = join(dataRoot, 'reports', report.id);
    expect(reportDone.published?.dir).toBe(published);
    const site = checkReportSite(published);
    expect(site.pngs).toHaveLength(1);
    expect(readFileSync(join(published, 'FAULT', 'gated.txt'), 'utf8')).toBe('released\n');

    // --- the projections equal the stream ----------------------------------------------------
    const last = await streamLastPosition(natsUrl, environment.stream, environment.prefix);
    await waitForProjector(environment.database, last, 20_000);
    const final = await readWholeStream(natsUrl, environment.stream, environment.prefix);
    expect(final.length).toBe(last);
    expect(await projectedStatus(environment.database.db)).toEqual(foldStatus(final));
    const transitions = await environment.database.db
      .selectFrom('actor_transition')
      .select(['position', 'kind', 'id', 'version', 'type', 'state'])
      .orderBy('position')
      .execute();
    expect(transitions.map((t) => ({ ...t, position: Number(t.position), version: Number(t.version) }))).toEqual(
      final.map((e) => ({ position: e.position, kind: e.actorKind, id: e.actorId, version: e.version, type: e.type, state: e.state })),
    );

    // --- what the process said ---------------------------------------------------------------
    expect(isAlive(up)).toBe(true);
    const stderr = up.stderr();
    expect(stderr, 'the process guard caught failures nobody handled').not.toContain('unhandled failure');
    const messages = logMessages(stderr);
    expect(messages.filter((m) => m.startsWith('NATS is not reachable')), 'outage logged once').toHaveLength(1);
    expect(messages.filter((m) => m.startsWith('NATS is back')), 'return logged once').toHaveLength(1);

    // And it still stops cleanly.
    up.kill('SIGTERM');
    const exit = await up.exited;
    expect({ exit, stderr: up.stderr().slice(-2_000) }).toMatchObject({ exit: { code: 0 } });
    expect(up.stdout()).toContain('daqflow up: stopped');
    console.info(
      `nats fault: outage ${outageMs} ms, ${requestedBefore.length}/${plan.length} chunks asked for before it, ${final.length} events, ${Date.now() - t0} ms`,
    );
  }, 90_000);
});
