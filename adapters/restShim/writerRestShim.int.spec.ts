import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { h5pyGeneral } from '../../test/harness/h5pyReadBack.js';
import { checkFileAgainstSimulator, h5Dataset, withH5File } from '../../test/harness/swissfelReadBack.js';
import { useTestDatabase } from '../../test/harness/testDatabase.js';
import { uniqueToken } from '../../test/harness/testNames.js';
import { startDaqflow, type Daqflow } from '../app/startDaqflow.js';
import { defaultSimulatedChannels, startBsreadSimulator, type BsreadSimulator } from '../bsread/bsreadSimulator.js';
import { loadConfig } from '../config/config.js';
import { connectNats } from '../jetstream/connection.js';
import { createLogger } from '../logging/logger.js';
import { startWriterRestShim, type WriterRestShim } from './writerRestShim.js';

// daqflow in this process on real servers and a real ZeroMQ stream; the shim on a connection of
// its own, as it would be in another process, driven over HTTP only.
const database = useTestDatabase();
const token = uniqueToken();
const prefix = `t_${token}`;
const scratch = mkdtempSync(join(tmpdir(), 'daqflow-rest-'));
const dataRoot = join(scratch, 'data');
let sim: BsreadSimulator;
let app: Daqflow;
let nc: NatsConnection;
const shims: WriterRestShim[] = [];

const newShim = async (): Promise<WriterRestShim> => {
  const shim = await startWriterRestShim({ nc, subjectPrefix: prefix, port: 0, streamCounters: () => app.bsread.counters() });
  shims.push(shim);
  return shim;
};

beforeAll(async () => {
  mkdirSync(dataRoot, { recursive: true });
  sim = await startBsreadSimulator({
    address: 'tcp://127.0.0.1:*',
    rateHz: 200,
    startPulseId: 50_000,
    missingEvery: 11,
    channels: defaultSimulatedChannels({ imageWidth: 32, imageHeight: 24, waveformLength: 64 }),
  });
  const config = loadConfig({
    env: {},
    flags: { home: scratch, dataRoot, bsreadStream: sim.address, bufferLength: 2_000, stream: `T_${token}`, subjectPrefix: prefix },
  });
  app = await startDaqflow(config, { natsUrl: inject('natsUrl'), databaseUrl: database.url }, createLogger('silent'));
  nc = await connectNats(inject('natsUrl'), 'rest-shim-int');
  // A start pulse is checked against what the buffer has seen: let the stream arrive first.
  const end = Date.now() + 10_000;
  while (app.bsread.buffer.counters().newestPulseId === null) {
    if (Date.now() > end) throw new Error('the bsread stream never reached daqflow');
    await new Promise((r) => setTimeout(r, 20));
  }
});

afterAll(async () => {
  for (const shim of shims) await shim.close(500);
  await app?.stop();
  await sim?.stop();
  if (nc) {
    await (await jetstreamManager(nc)).streams.delete(`T_${token}`).catch(() => undefined);
    await nc.close();
  }
  rmSync(scratch, { recursive: true, force: true });
});

interface HttpReply {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly contentType: string | null;
}

const call = async (shim: WriterRestShim, method: string, path: string, body?: unknown): Promise<HttpReply> => {
  const res = await fetch(`${shim.url}${path}`, {
    method,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, contentType: res.headers.get('content-type') };
};

const statistics = async (shim: WriterRestShim): Promise<Record<string, unknown>> => {
  const reply = await call(shim, 'GET', '/statistics');
  expect(reply.status).toBe(200);
  return reply.body.statistics as Record<string, unknown>;
};

/** Polls `/statistics` until `ok` holds for them. */
const statisticsShow = async (shim: WriterRestShim, ok: (s: Record<string, unknown>) => boolean, ms = 15_000): Promise<Record<string, unknown>> => {
  const end = Date.now() + ms;
  for (;;) {
    const stats = await statistics(shim);
    if (ok(stats)) return stats;
    if (Date.now() > end) throw new Error(`statistics still ${JSON.stringify(stats)} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

/** Polls `/status` until it says `word`. */
const statusBecomes = async (shim: WriterRestShim, word: string, ms = 15_000): Promise<Record<string, unknown>> => {
  const end = Date.now() + ms;
  for (;;) {
    const reply = await call(shim, 'GET', '/status');
    expect(reply.status).toBe(200);
    if (reply.body.status === word) return reply.body;
    if (Date.now() > end) throw new Error(`status still ${JSON.stringify(reply.body)} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

const parameters = (outputFile: string): Record<string, unknown> => ({
  'general/created': '2024-05-01T10:20:30.123456',
  'general/user': 'p11057',
  'general/process': 'dia',
  'general/instrument': 'jungfrau',
  output_file: outputFile,
});

const newestPulse = (): number => app.bsread.buffer.counters().newestPulseId!;

const expectError = (reply: HttpReply, status: number, code: string, message: RegExp): void => {
  expect(reply.status, JSON.stringify(reply.body)).toBe(status);
  expect(reply.contentType).toMatch(/^application\/json/);
  expect(reply.body).toMatchObject({ state: 'error', status: expect.stringMatching(message), error: { code, message: reply.body.status } });
};

describe("sf_bsread_writer's REST API in front of daqflow", () => {
  it('parameters, start_pulse_id, stop_pulse_id: the file is complete and the status says finished', async () => {
    const shim = await newShim();
    expect((await call(shim, 'GET', '/status')).body).toEqual({ state: 'ok', status: 'waiting', acquisition_id: null, daqflow_state: null });
    expect((await call(shim, 'GET', '/parameters')).body).toMatchObject({ state: 'ok', status: 'waiting', parameters: {} });

    const set = await call(shim, 'POST', '/parameters', parameters('p11057/run_0001.h5'));
    expect(set).toMatchObject({ status: 200, body: { state: 'ok', status: 'waiting', parameters: parameters('p11057/run_0001.h5') } });
    expect((await call(shim, 'GET', '/parameters')).body.parameters).toEqual(parameters('p11057/run_0001.h5'));

    // A start a little in the future, as a DAQ script does with the detector's pulse id; the stop
    // far enough ahead (2 s at 200 Hz) that it arrives before the writer passes it on a loaded runner.
    const first = newestPulse() + 20;
    const last = first + 400;
    const started = await call(shim, 'PUT', `/start_pulse_id/${first}`);
    expect(started).toMatchObject({ status: 200, body: { state: 'ok', status: 'writing', start_pulse_id: first } });
    const id = started.body.acquisition_id as string;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(started.body.output_file).toBe(join(dataRoot, 'p11057/run_0001.h5'));
    expect(await statistics(shim)).toMatchObject({ start_pulse_id: first, stop_pulse_id: null, start_timestamp: null, acquisition_id: id });

    const stopped = await call(shim, 'PUT', `/stop_pulse_id/${last}`);
    expect(stopped).toMatchObject({ status: 200, body: { state: 'ok', acquisition_id: id, stop_pulse_id: last } });

    const done = await statusBecomes(shim, 'finished');
    expect(done).toMatchObject({ state: 'ok', acquisition_id: id, daqflow_state: 'completed' });
    const stats = await statistics(shim);
    expect(stats).toMatchObject({
      start_pulse_id: first,
      stop_pulse_id: last,
      last_pulse_id: last,
      first_pulse_id: first,
      pulses_written: 401,
      missing_pulses: 0,
      acquisition_id: id,
      daqflow_state: 'completed',
      output_file: join(dataRoot, 'p11057/run_0001.h5'),
    });
    expect(stats.bytes_written as number).toBeGreaterThan(0);
    const stream = stats.stream as Record<string, number>;
    expect(stream.received).toBeGreaterThan(401);
    expect(stream.newest_pulse_id).toBeGreaterThanOrEqual(last);

    // The same acquisition through daqflow's own API, under the id the shim replied with.
    const view = JSON.parse((await nc.request(`${prefix}.acquisitions.get`, JSON.stringify({ id }))).string()) as Record<string, unknown>;
    expect(view).toMatchObject({ id, state: 'completed', firstPulseId: first, lastPulseId: last });

    const path = join(dataRoot, 'p11057/run_0001.h5');
    const read = await checkFileAgainstSimulator(path, (p) => sim.expected(p), { first, last });
    expect(read.rows).toBe(401);
    const general = await withH5File(path, (file) =>
      ['created', 'user', 'process', 'instrument'].map((k) => String(h5Dataset(file, `/general/${k}`).value)),
    );
    expect(general).toEqual(['2024-05-01T10:20:30.123456', 'p11057', 'dia', 'jungfrau']);
    // As sf_bsread_writer's h5py wrote them (numpy.string_): bytes of a fixed-length ASCII string.
    const byH5py = await h5pyGeneral(path);
    expect(byH5py['created']).toEqual({ isBytes: true, kind: 'S', dtype: '|S26', cset: 0, text: '2024-05-01T10:20:30.123456' });
    expect(byH5py['user']).toEqual({ isBytes: true, kind: 'S', dtype: '|S6', cset: 0, text: 'p11057' });
    expect(Object.keys(byH5py).sort()).toEqual(['created', 'instrument', 'process', 'user']);

    // The next acquisition's parameters find the shim as a fresh writer process would be.
    const again = await call(shim, 'POST', '/parameters', parameters('p11057/run_0002.h5'));
    expect(again.body).toMatchObject({ state: 'ok', status: 'waiting', acquisition_id: null });
    expect((await statistics(shim)).last_pulse_id).toBe(-1);
  });

  it('start_now and stop_now, then start_now naming the next file (persistent mode) and /stop', async () => {
    const shim = await newShim();
    expect((await call(shim, 'POST', '/parameters', parameters('now/a.h5'))).status).toBe(200);
    const before = Date.now() / 1000;
    const started = await call(shim, 'PUT', '/start_now');
    expect(started).toMatchObject({ status: 200, body: { state: 'ok', status: 'writing' } });
    // More than 10 rows before the stop, whatever the machine's load.
    await statisticsShow(shim, (s) => typeof s.first_pulse_id === 'number' && (s.pulses_written as number) > 11);
    expect((await call(shim, 'PUT', '/stop_now')).status).toBe(200);
    await statusBecomes(shim, 'finished');
    const stats = await statistics(shim);
    expect(stats).toMatchObject({ start_pulse_id: null, stop_pulse_id: null, acquisition_id: started.body.acquisition_id });
    expect(stats.start_timestamp as number).toBeGreaterThanOrEqual(before);
    expect(stats.stop_timestamp as number).toBeGreaterThan(stats.start_timestamp as number);
    const first = stats.first_pulse_id as number;
    const last = stats.last_pulse_id as number;
    expect(last - first).toBeGreaterThan(10);
    expect(stats.pulses_written).toBe(last - first + 1);
    await checkFileAgainstSimulator(join(dataRoot, 'now/a.h5'), (p) => sim.expected(p), { first, last });

    const next = await call(shim, 'PUT', '/start_now', { output_file: 'now/b.h5' });
    expect(next.status).toBe(200);
    expect(next.body.acquisition_id).not.toBe(started.body.acquisition_id);
    expect((await call(shim, 'GET', '/parameters')).body.parameters).toMatchObject({ output_file: 'now/b.h5', 'general/user': 'p11057' });
    await statisticsShow(shim, (s) => s.acquisition_id === next.body.acquisition_id && (s.pulses_written as number) > 0);
    // /stop answers once the file is complete, so the next start can follow at once.
    expect(await call(shim, 'GET', '/stop')).toMatchObject({
      status: 200,
      body: { state: 'ok', status: 'finished', acquisition_id: next.body.acquisition_id, daqflow_state: 'completed' },
    });
    const b = await statistics(shim);
    expect(b.stop_timestamp as number).toBeGreaterThan(b.start_timestamp as number);
    await checkFileAgainstSimulator(join(dataRoot, 'now/b.h5'), (p) => sim.expected(p), {
      first: b.first_pulse_id as number,
      last: b.last_pulse_id as number,
    });
  });

  it('kill closes the file with what was written; a second kill and a stop are harmless', async () => {
    const shim = await newShim();
    await call(shim, 'POST', '/parameters', parameters('killed.h5'));
    const started = await call(shim, 'PUT', '/start_now');
    expect(started.status).toBe(200);
    // 'writing' covers the file being opened (a writer thread may be starting on a loaded runner);
    // the kill should find rows written, so wait for the progress that says so.
    await statisticsShow(shim, (s) => typeof s.first_pulse_id === 'number' && (s.pulses_written as number) >= 10);
    const killed = await call(shim, 'GET', '/kill');
    expect(killed).toMatchObject({
      status: 200,
      body: { state: 'ok', status: 'killed', acquisition_id: started.body.acquisition_id, daqflow_state: 'killed' },
    });
    const stats = await statistics(shim);
    const first = stats.first_pulse_id as number;
    const last = stats.last_pulse_id as number;
    expect(last).toBeGreaterThan(first);
    await checkFileAgainstSimulator(join(dataRoot, 'killed.h5'), (p) => sim.expected(p), { first, last });
    expect((await call(shim, 'GET', '/kill')).body).toMatchObject({ state: 'ok', status: 'killed' });
    expect((await call(shim, 'GET', '/stop')).body).toMatchObject({ state: 'ok', status: 'killed' });
  });

  it('answers bad requests with the writer error shape and the contract status, and keeps serving', async () => {
    const shim = await newShim();
    expectError(await call(shim, 'PUT', '/start_pulse_id/5'), 409, 'WRONG_STATE', /^no output file: POST \/parameters/);
    expectError(await call(shim, 'PUT', '/stop_now'), 409, 'WRONG_STATE', /no acquisition was started/);
    const { output_file: _file, ...noFile } = parameters('x.h5');
    const { 'general/user': _user, ...noUser } = noFile;
    expectError(await call(shim, 'POST', '/parameters', noUser), 400, 'INVALID_REQUEST', /^Missing mandatory parameters\. .*general\/user/);
    expectError(await call(shim, 'POST', '/parameters', '{"general/user": '), 400, 'INVALID_REQUEST', /not valid JSON/);
    expectError(await call(shim, 'POST', '/parameters', [1, 2]), 400, 'INVALID_REQUEST', /JSON object/);
    expectError(await call(shim, 'POST', '/parameters', { ...noFile, output_file: 7 }), 400, 'INVALID_REQUEST', /output_file/);
    expectError(await call(shim, 'POST', '/parameters', 'x'.repeat(70_000)), 400, 'INVALID_REQUEST', /larger than/);
    // Parameters without a file are taken; the start then says what is missing.
    expect((await call(shim, 'POST', '/parameters', noFile)).status).toBe(200);
    expectError(await call(shim, 'PUT', '/start_now'), 409, 'WRONG_STATE', /no output file/);

    for (const bad of ['abc', '-1', '1.5', '1e3', '%zz', '99999999999999999999']) {
      expectError(await call(shim, 'PUT', `/start_pulse_id/${bad}`), 400, 'INVALID_REQUEST', /pulse id must be a whole number/);
      expectError(await call(shim, 'PUT', `/stop_pulse_id/${bad}`), 400, 'INVALID_REQUEST', /pulse id must be a whole number/);
    }
    expectError(await call(shim, 'PUT', '/start_pulse_id/'), 400, 'INVALID_REQUEST', /pulse id/);
    expectError(await call(shim, 'GET', '/nope'), 404, 'UNKNOWN_ROUTE', /no route GET \/nope/);
    expectError(await call(shim, 'GET', '/status/extra'), 404, 'UNKNOWN_ROUTE', /no route/);
    expectError(await call(shim, 'PUT', '/start_now/5'), 404, 'UNKNOWN_ROUTE', /no route/);
    const wrongMethod = await fetch(`${shim.url}/start_now`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('PUT');

    // daqflow's own refusals come through with its status and code.
    await call(shim, 'POST', '/parameters', parameters('../outside.h5'));
    expectError(await call(shim, 'PUT', '/start_now'), 400, 'VALIDATION_FAILED', /outputFile/);
    await call(shim, 'POST', '/parameters', parameters('gone.h5'));
    const gone = await call(shim, 'PUT', '/start_pulse_id/1');
    expectError(gone, 409, 'WRONG_STATE', /1 has already left the ring buffer/);
    expect((gone.body.error as { details: Record<string, unknown> }).details).toMatchObject({ kind: 'PULSE_GONE' });
    expect(existsSync(join(dataRoot, 'gone.h5'))).toBe(false);

    // One writer at a time, as sf_bsread_writer: a second start names the running acquisition.
    await call(shim, 'POST', '/parameters', parameters('busy.h5'));
    const running = await call(shim, 'PUT', '/start_now');
    expect(running.status).toBe(200);
    const second = await call(shim, 'PUT', `/start_pulse_id/${newestPulse() + 10}`);
    expectError(second, 409, 'WRONG_STATE', /is still (waiting|writing)/);
    expect((second.body.error as { details: Record<string, unknown> }).details).toMatchObject({ acquisition_id: running.body.acquisition_id });
    expectError(await call(shim, 'PUT', '/start_now', { output_file: 'other.h5' }), 409, 'WRONG_STATE', /is still/);
    expect((await call(shim, 'GET', '/parameters')).body.parameters).toMatchObject({ output_file: 'busy.h5' });
    expectError(await call(shim, 'PUT', '/start_now', '[]'), 400, 'INVALID_REQUEST', /JSON object/);
    // A stop before the first pulse written is daqflow's 409, passed through.
    const early = await call(shim, 'PUT', '/stop_pulse_id/1');
    expect(early.status).toBe(409);
    expect(early.body.state).toBe('error');
    expect((await call(shim, 'GET', '/kill')).body).toMatchObject({ state: 'ok', status: 'killed' });

    // A request that is not HTTP at all costs the client its connection, nothing more.
    await new Promise<void>((resolve, reject) => {
      const socket = connectTcp(shim.port, '127.0.0.1', () => socket.end('\u0000\u0001 not http\r\n\r\n'));
      socket.on('close', () => resolve());
      socket.on('error', reject);
      socket.resume();
    });
    expect((await call(shim, 'GET', '/status')).body).toMatchObject({ state: 'ok', status: 'killed' });
  });

  it('says 500 with a retryable error when daqflow does not answer', async () => {
    const shim = await startWriterRestShim({ nc, subjectPrefix: `t_${uniqueToken()}`, port: 0, requestTimeoutMs: 300 });
    shims.push(shim);
    await call(shim, 'POST', '/parameters', parameters('nobody.h5'));
    const reply = await call(shim, 'PUT', '/start_now');
    expectError(reply, 500, 'STORE_UNAVAILABLE', /no answer from daqflow/);
    expect((reply.body.error as { details: Record<string, unknown> }).details).toMatchObject({ retryable: true });
    expect((await call(shim, 'GET', '/status')).status).toBe(200);
  });

  it('with a token, answers 401 to a request without it or with another, and serves one that carries it', async () => {
    const token = 'a-token-for-the-detector-network';
    const shim = await startWriterRestShim({ nc, subjectPrefix: `t_${uniqueToken()}`, port: 0, token });
    shims.push(shim);
    const status = (headers: Record<string, string>) => fetch(`${shim.url}/status`, { headers }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
    const without = await status({});
    expect(without.status).toBe(401);
    expect(without.body).toMatchObject({ state: 'error', error: { code: 'UNAUTHORIZED' } });
    expect((await status({ authorization: 'Bearer not-the-token' })).status).toBe(401);
    expect((await status({ authorization: `Bearer ${token}` })).status).toBe(200);
  });
});
