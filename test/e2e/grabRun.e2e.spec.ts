import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createSimulatorSource } from '../../adapters/dataLogger/simulator.js';
import { startFakeArchiverAppliance, type FakeArchiverServer, type FakeRequest } from '../fakes/archiverApplianceServer.js';
import { killAllDaqflowProcesses, startDaqflowProcess, type DaqflowProcess } from '../harness/daqflowProcess.js';
import { readGrabFile } from '../harness/readGrabFile.js';
import { apiRequest, readWholeStream, useE2eEnvironments, waitFor, type DaqflowEnvironment } from './e2eHelpers.js';

/*
 * Acceptance of grab runs through `daqflow up` (a child process) against a loopback Archiver
 * Appliance: a SIGKILL in the middle of a multi-chunk grab, a source that answers 503 for a
 * while or for good, and bad requests.
 */

const PARAMETERS = ['SIM:SINE', 'SIM:RAMP', 'SIM:NANS', 'SIM:CONST'];
const WINDOW = { startAt: '2026-11-20T00:00:00Z', stopAt: '2026-11-20T01:00:00Z' };
const CHUNK_SECONDS = 600; // 6 chunks per parameter, 24 in all

interface GrabReply {
  id: string;
  state: string;
  final: boolean;
  outputFile?: string | null;
  error?: string;
  progress?: { chunksDone: number; chunksTotal: number; samples: number };
}

const e2e = useE2eEnvironments('grab');
let archiver: FakeArchiverServer;
let nc: NatsConnection;
let environment: DaqflowEnvironment;
let dataRoot: string;
let env: Record<string, string>;

beforeAll(async () => {
  archiver = await startFakeArchiverAppliance({ source: createSimulatorSource({ seed: 'e2e-grab', rateHz: 2 }) });
  environment = await e2e.create();
  dataRoot = join(e2e.home, `data-${environment.token}`);
  mkdirSync(dataRoot, { recursive: true });
  env = {
    ...environment.env,
    DAQFLOW_ARCHIVER_URL: archiver.url,
    DAQFLOW_DATA_ROOT: dataRoot,
    DAQFLOW_TIMEZONE: 'UTC',
  };
  nc = await connect({ servers: inject('natsUrl'), name: 'e2e-grab-client' });
});

afterEach(async () => {
  archiver.setLatency(0);
  archiver.clearFaults();
  await killAllDaqflowProcesses();
});

afterAll(async () => {
  await nc?.close();
  await archiver?.close();
});

const subject = (verb: string): string => `${environment.prefix}.grabs.${verb}`;

const start = async (body: Record<string, unknown>): Promise<GrabReply> => {
  const outcome = await apiRequest(nc, subject('start'), body, 20_000);
  if (outcome.kind !== 'ok') throw new Error(`grab start refused: ${JSON.stringify(outcome)}`);
  return outcome.body as unknown as GrabReply;
};

const get = async (id: string): Promise<GrabReply | undefined> => {
  const outcome = await apiRequest(nc, subject('get'), { id }, 2_000);
  return outcome.kind === 'ok' ? (outcome.body as unknown as GrabReply) : undefined;
};

const untilFinal = (id: string, timeoutMs = 60_000): Promise<GrabReply> =>
  waitFor(`grab ${id} to end`, async () => {
    const view = await get(id);
    return view?.final ? view : undefined;
  }, timeoutMs);

const requestKey = (r: FakeRequest): string => `${r.pv} ${r.from} ${r.to}`;

const countByKey = (requests: readonly FakeRequest[]): Map<string, number> => {
  const counts = new Map<string, number>();
  for (const r of requests) counts.set(requestKey(r), (counts.get(requestKey(r)) ?? 0) + 1);
  return counts;
};

/** Requests for the window's data (a describe asks about the last second before now). */
const windowRequests = (since: number): FakeRequest[] =>
  archiver.requests().slice(since).filter((r) => r.from !== null && r.from.startsWith('2026-11-20'));

describe('grab runs through daqflow up and a loopback Archiver Appliance', () => {
  it('resumes a SIGKILLed multi-chunk grab at the first unfinished chunk; the file equals an uninterrupted run', async () => {
    let up: DaqflowProcess = await startDaqflowProcess({ env });
    archiver.setLatency(120);
    const before = archiver.requests().length;
    const body = { parameters: PARAMETERS, ...WINDOW, chunkSeconds: CHUNK_SECONDS, outDir: 'out/killed', requestId: 'killed-run' };
    const started = await start(body);
    expect(started.progress?.chunksTotal).toBe(24);
    // The parameter list is in live replies, not repeated in every stored event's summary.
    expect((started as unknown as { parameters: string[] }).parameters).toEqual(PARAMETERS);

    const doneAtKill = await waitFor('8 chunks written', async () => {
      const view = await get(started.id);
      return view && (view.progress?.chunksDone ?? 0) >= 8 ? view.progress?.chunksDone : undefined;
    }, 30_000);
    up.kill('SIGKILL');
    await up.exited;
    const events = await readWholeStream(inject('natsUrl'), environment.stream, environment.prefix);
    const writtenAtKill = events.filter((e) => e.actorId === started.id && e.type === 'chunkWritten').length;
    expect(events.filter((e) => e.actorId === started.id).every((e) => !('parameters' in e.summary) && e.summary.parameterCount === 4)).toBe(true);
    expect(writtenAtKill).toBeGreaterThanOrEqual(doneAtKill ?? 0);
    expect(writtenAtKill).toBeLessThan(24);

    archiver.setLatency(0);
    up = await startDaqflowProcess({ env });
    const finished = await untilFinal(started.id);
    expect(finished.state, finished.error).toBe('completed');
    const killedRequests = windowRequests(before);

    // Each chunk finished before the kill was asked for once; only the one in flight may be twice.
    const counts = countByKey(killedRequests);
    expect(counts.size).toBe(24);
    const twice = [...counts].filter(([, n]) => n > 1);
    expect(twice.length).toBeLessThanOrEqual(1);
    expect(twice.every(([, n]) => n === 2)).toBe(true);
    const firstRun = killedRequests.slice(0, writtenAtKill).map(requestKey);
    for (const key of firstRun) expect(counts.get(key), key).toBe(1);

    // An uninterrupted run of the same window gives the same file contents.
    const again = await start({ ...body, outDir: 'out/whole', requestId: 'whole-run' });
    const whole = await untilFinal(again.id);
    expect(whole.state, whole.error).toBe('completed');
    const [a, b] = await Promise.all([readGrabFile(finished.outputFile ?? ''), readGrabFile(whole.outputFile ?? '')]);
    expect([...a.series.keys()].sort()).toEqual([...PARAMETERS].sort());
    for (const parameter of PARAMETERS) {
      const x = a.series.get(parameter);
      const y = b.series.get(parameter);
      expect(x?.times.length, parameter).toBe(2 * 3_600);
      expect(Buffer.from(x!.times.buffer).equals(Buffer.from(y!.times.buffer)), `${parameter} times`).toBe(true);
      expect(Buffer.from(x!.values.buffer).equals(Buffer.from(y!.values.buffer)), `${parameter} values`).toBe(true);
      expect(x?.units).toBe(y?.units);
    }
    expect(a.attributes.window_start).toBe(b.attributes.window_start);
    expect(readdirSync(join(dataRoot, 'out', 'killed')).filter((f) => f.endsWith('.h5'))).toHaveLength(1);

    // The same start again, while the appliance is down: the first answer, not a 500 from
    // checking the parameters again, and no second run.
    archiver.failNext(100, 503);
    const retried = await apiRequest(nc, subject('start'), body, 10_000);
    expect(retried.kind, JSON.stringify(retried)).toBe('ok');
    if (retried.kind === 'ok') {
      expect(retried.duplicate).toBe(true);
      expect(retried.body.id).toBe(started.id);
    }
  }, 120_000);

  it('retries a source that answers 503 three times, and fails with the reason, leaving no file, when it keeps failing', async () => {
    await startDaqflowProcess({ env });
    const window = { startAt: '2026-11-20T02:00:00Z', stopAt: '2026-11-20T02:30:00Z' };
    const inWindow = (r: FakeRequest): boolean => r.from?.startsWith('2026-11-20T02') === true;
    const retry = { initialDelayMs: 50, maxDelayMs: 200 };

    archiver.failNext(3, 503, inWindow);
    const recovering = await start({ parameters: ['SIM:SINE'], ...window, chunkSeconds: 900, outDir: 'out/recovering', retry });
    const recovered = await untilFinal(recovering.id);
    expect(recovered.state, recovered.error).toBe('completed');
    const history = (await readWholeStream(inject('natsUrl'), environment.stream, environment.prefix)).filter(
      (e) => e.actorId === recovering.id,
    );
    expect(history.filter((e) => e.type === 'chunkFailed')).toHaveLength(3);
    expect(history.filter((e) => e.type === 'retryDue')).toHaveLength(3);
    expect(readdirSync(join(dataRoot, 'out', 'recovering')).filter((f) => f.endsWith('.h5'))).toHaveLength(1);

    archiver.failNext(1_000, 503, inWindow);
    const failing = await start({
      parameters: ['SIM:SINE'],
      ...window,
      chunkSeconds: 900,
      outDir: 'out/failing',
      retry: { ...retry, maxAttempts: 4 },
    });
    const failed = await untilFinal(failing.id);
    expect(failed.state).toBe('failed');
    expect(failed.error).toMatch(/gave up after 4 attempts/);
    expect(failed.error).toMatch(/UNAVAILABLE/);
    expect(failed.error).toMatch(/503/);
    let outFiles: string[] = [];
    try {
      outFiles = readdirSync(join(dataRoot, 'out', 'failing'));
    } catch {
      outFiles = [];
    }
    expect(outFiles.filter((f) => f.endsWith('.h5'))).toEqual([]);
  }, 120_000);

  it('refuses bad requests with a 400 and a clear message', async () => {
    await startDaqflowProcess({ env });
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['unknown parameter', { parameters: ['SIM:SINE', 'NO:SUCH:PV'], window: { hours: 1 } }, /unknown parameter.*NO:SUCH:PV/],
      ['inverted window', { parameters: ['SIM:SINE'], startAt: '2026-11-20T05:00:00Z', stopAt: '2026-11-20T04:00:00Z' }, /inverted/],
      ['ten-year window', { parameters: ['SIM:SINE'], window: { days: 3_650 } }, /at most 366 days/],
      ['out folder outside the data root', { parameters: ['SIM:SINE'], window: { hours: 1 }, outDir: '/tmp/elsewhere' }, /outDir.*DAQFLOW_DATA_ROOT|outside/],
      ['out folder escaping with ..', { parameters: ['SIM:SINE'], window: { hours: 1 }, outDir: '../x' }, /outside/],
      ['not an object', { parameters: 'SIM:SINE' }, /parameters/],
    ];
    for (const [what, body, message] of cases) {
      const outcome = await apiRequest(nc, subject('start'), body, 10_000);
      expect(outcome.kind, what).toBe('refused');
      if (outcome.kind !== 'refused') continue;
      expect(outcome.status, what).toBe('400');
      const error = outcome.body.error as { code: string; message: string };
      expect(error.message, what).toMatch(message);
    }
    const list = await apiRequest(nc, `${environment.prefix}.query.list`, { kind: 'grab' }, 5_000);
    expect(list.kind).toBe('ok');
  }, 60_000);
});
