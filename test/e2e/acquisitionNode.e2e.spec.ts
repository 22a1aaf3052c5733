import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AcquisitionView } from '../../actors/acquisitions/index.js';
import type { RecordedEvent } from '../../events/envelope.js';
import { freePort } from '../../adapters/embedded/freePort.js';
import { runCli, startDaqflowProcess, type DaqflowProcess } from '../harness/daqflowProcess.js';
import { readPresence } from '../harness/presence.js';
import { expectedRows, readRowsOfChannels } from '../harness/swissfelReadBack.js';
import { apiRequest, readWholeStream, useE2eEnvironments, waitFor, type DaqflowEnvironment } from './e2eHelpers.js';

/*
 * docs/multi-host.md, "Where acquisitions run", with real processes: `daqflow simulate bsread
 * --mode pub` sends one stream; `daqflow up` processes on nodes a, b (and c) receive it in SUB
 * mode (c another stream), share one NATS and one PostgreSQL, with a short lease TTL. An
 * acquisition naming node b is written by b wherever the request lands; when b is SIGKILLed, a
 * SUB receiver of the same stream takes it over and completes it from its own ring buffer, and a
 * process on another stream never does (b's next process takes it and fails it with PULSES_LOST:
 * its new buffer never held the pulses).
 */

const RATE = 100;
const START = 9_000_000;
/** The two simulated streams' ports, free ones found in beforeAll. */
let streamPort = 0;
let otherStreamPort = 0;
const LEASE_TTL_MS = 3_000;
/** 200 s of the stream: a process that received it all along still holds every pulse of a test. */
const BUFFER = 20_000;

const natsUrl = inject('natsUrl');
const e2e = useE2eEnvironments('acquisition-node');
let nc: NatsConnection;
let dataRoot: string;
const running: DaqflowProcess[] = [];

const streamOn = (port: number): string => `tcp://127.0.0.1:${port}`;

beforeAll(async () => {
  dataRoot = join(e2e.home, 'data');
  mkdirSync(dataRoot, { recursive: true });
  nc = await connect({ servers: natsUrl, name: 'e2e-acquisition-node-client' });
  streamPort = await freePort();
  otherStreamPort = await freePort();
  for (const port of [streamPort, otherStreamPort]) {
    await startDaqflowProcess({
      args: ['simulate', 'bsread', '--address', streamOn(port), '--mode', 'pub', '--rate', String(RATE), '--scalars', '2', '--start-pulse', String(START)],
      ready: /bsread simulator: pub on/,
    });
  }
}, 60_000);

// The simulators run for the whole file (the e2e environments kill them after all tests).
afterEach(async () => {
  for (const p of running.splice(0)) {
    p.kill('SIGKILL');
    await p.exited;
  }
});

afterAll(async () => {
  await nc?.close();
});

interface Node {
  readonly node: string;
  readonly roles?: string;
  readonly port?: number;
  readonly logLevel?: string;
}

const launch = async (environment: DaqflowEnvironment, { node, roles, port = streamPort, logLevel }: Node): Promise<DaqflowProcess> => {
  const p = await startDaqflowProcess({
    env: {
      ...environment.env,
      DAQFLOW_HOME: join(e2e.home, `${environment.token}-${node}-${running.length}`),
      DAQFLOW_NODE: node,
      ...(roles ? { DAQFLOW_ROLES: roles } : {}),
      ...(logLevel ? { DAQFLOW_LOG_LEVEL: logLevel } : {}),
      DAQFLOW_DATA_ROOT: dataRoot,
      DAQFLOW_BSREAD_STREAM: streamOn(port),
      DAQFLOW_BSREAD_MODE: 'sub',
      DAQFLOW_BUFFER_LENGTH: String(BUFFER),
      DAQFLOW_LEASE_TTL_MS: String(LEASE_TTL_MS),
    },
    timeoutMs: 150_000,
  });
  running.push(p);
  return p;
};

const request = async (environment: DaqflowEnvironment, verb: string, body: Record<string, unknown>): Promise<AcquisitionView> => {
  const outcome = await apiRequest(nc, `${environment.prefix}.acquisitions.${verb}`, body, 10_000);
  if (outcome.kind !== 'ok') throw new Error(`acquisitions.${verb} refused: ${JSON.stringify(outcome)}`);
  return outcome.body as unknown as AcquisitionView;
};

const view = (environment: DaqflowEnvironment, id: string): Promise<AcquisitionView> => request(environment, 'get', { id });

const untilFinal = (environment: DaqflowEnvironment, id: string): Promise<AcquisitionView> =>
  waitFor(`acquisition ${id} to end`, async () => {
    const v = await view(environment, id);
    return v.final ? v : undefined;
  }, 90_000, 250);

/** Starts an acquisition at the next pulse naming `node`, then stops it `pulses` later. */
const startOn = async (environment: DaqflowEnvironment, node: string, outputFile: string, pulses: number): Promise<{ id: string; first: number; last: number }> => {
  const started = await request(environment, 'start', { outputFile, startNow: true, node });
  expect(started.node).toBe(node);
  const first = started.startPulseId;
  if (first === null) throw new Error(`no start pulse resolved: ${JSON.stringify(started)}`);
  const last = first + pulses - 1;
  await request(environment, 'stop', { id: started.id, stopPulseId: last });
  return { id: started.id, first, last };
};

const eventsOf = async (environment: DaqflowEnvironment, id: string): Promise<RecordedEvent[]> =>
  (await readWholeStream(natsUrl, environment.stream, environment.prefix)).filter((e) => e.actorId === id);

type StartedData = { firstPulseId: number; writer?: { node: string; process?: string; stream: { address: string; mode: string } } };
const writersOf = (events: readonly RecordedEvent[]): Array<StartedData['writer'] & { time: string }> =>
  events.filter((e) => e.type === 'started').map((e) => ({ ...(e.data as StartedData).writer!, time: e.time }));

const processOn = async (environment: DaqflowEnvironment, node: string): Promise<string> => {
  const found = (await readPresence(natsUrl, environment.stream)).find((p) => p.node === node);
  if (!found) throw new Error(`no process on node ${node}`);
  return found.process;
};

describe('acquisitions and their node', () => {
  it('refuses a node name that is not one, with the field named', async () => {
    const environment = await e2e.create();
    await launch(environment, { node: 'a' });
    const outcome = await apiRequest(nc, `${environment.prefix}.acquisitions.start`, { outputFile: 'x.h5', startNow: true, node: 'b/../c' }, 10_000);
    expect(outcome.kind).toBe('refused');
    expect(outcome.kind === 'refused' && outcome.status).toBe('400');
    expect(JSON.stringify(outcome)).toMatch(/node.*a node name is 1-128 of A-Z a-z 0-9 _ \. -/);
  }, 200_000);

  it('an acquisition naming node b, sent to node a, is written by b', async () => {
    const environment = await e2e.create();
    // b takes no requests: every request lands on a.
    await Promise.all([launch(environment, { node: 'a' }), launch(environment, { node: 'b', roles: 'acquisitions' })]);
    const { id, first, last } = await startOn(environment, 'b', 'node/b-only.h5', 200);
    const done = await untilFinal(environment, id);
    expect(done.state, done.error).toBe('completed');
    expect(done).toMatchObject({ firstPulseId: first, lastPulseId: last, pulsesWritten: 200, missingPulses: 0, node: 'b' });
    expect(done.writer).toMatchObject({ node: 'b', stream: { address: streamOn(streamPort), mode: 'sub' } });

    const path = join(dataRoot, 'node', 'b-only.h5');
    const rows = await readRowsOfChannels(path);
    expect(Object.keys(rows).sort()).toEqual(['SIM:SCALAR:000', 'SIM:SCALAR:001']);
    for (const [channel, got] of Object.entries(rows)) expect(got, channel).toEqual(expectedRows(first, last, []));

    const events = await eventsOf(environment, id);
    expect((events[0]?.data as { node?: string }).node).toBe('b');
    expect(writersOf(events).map((w) => w.node)).toEqual(['b']);
  }, 300_000);

  it('kill -9 of the owner mid-acquisition: a SUB receiver on another node takes it over and completes it with every pulse', async () => {
    const environment = await e2e.create();
    await launch(environment, { node: 'a' });
    const b = await launch(environment, { node: 'b', roles: 'acquisitions' });
    // 15 s of pulses: b is killed within the first few, a ends it.
    const { id, first, last } = await startOn(environment, 'b', 'node/taken-over.h5', 1_500);
    await waitFor('b writing 100 pulses', async () => {
      const v = await view(environment, id);
      if (v.final) throw new Error(`ended before the kill: ${JSON.stringify(v)}`);
      return v.writer?.node === 'b' && v.lastPulseId !== null && v.lastPulseId >= first + 100 ? true : undefined;
    }, 60_000, 100);
    b.kill('SIGKILL');
    await b.exited;
    const killedAt = Date.now();

    const done = await untilFinal(environment, id);
    expect(done.state, done.error).toBe('completed');
    expect(done).toMatchObject({ firstPulseId: first, lastPulseId: last, pulsesWritten: last - first + 1, missingPulses: 0 });
    expect(done.writer).toMatchObject({ node: 'a', stream: { address: streamOn(streamPort), mode: 'sub' } });

    // One file, no draft left, every pulse in it: a rewrote the draft from the first pulse.
    expect(readdirSync(join(dataRoot, 'node')).filter((f) => f.includes('taken-over'))).toEqual(['taken-over.h5']);
    const rows = await readRowsOfChannels(join(dataRoot, 'node', 'taken-over.h5'));
    for (const [channel, got] of Object.entries(rows)) expect(got, channel).toEqual(expectedRows(first, last, []));

    // One writer at a time: b, then a only once b was dead.
    const writers = writersOf(await eventsOf(environment, id));
    expect(writers.map((w) => w.node)).toEqual(['b', 'a']);
    expect(Date.parse(writers[1]!.time), 'a opened the file only once b was dead').toBeGreaterThanOrEqual(killedAt);
    expect(writers[0]!.process).not.toBe(writers[1]!.process);
  }, 300_000);

  it('a process on another stream never takes it over; the next process on b does, and fails it with PULSES_LOST naming the draft', async () => {
    const environment = await e2e.create();
    await launch(environment, { node: 'a', roles: 'api,projector' });
    const b = await launch(environment, { node: 'b', roles: 'acquisitions' });
    const c = await launch(environment, { node: 'c', roles: 'acquisitions', port: otherStreamPort, logLevel: 'info' });
    const { id, first } = await startOn(environment, 'b', 'node/stranded.h5', 100_000);
    await waitFor('b writing 50 pulses', async () => {
      const v = await view(environment, id);
      return v.writer?.node === 'b' && v.lastPulseId !== null && v.lastPulseId >= first + 50 ? true : undefined;
    }, 60_000, 100);
    const bProcess = await processOn(environment, 'b');
    b.kill('SIGKILL');
    await b.exited;

    // c sees b gone, judges the acquisition by the stream its writer read, and leaves it (before,
    // it had left it by the node it names).
    const refusal = `its writer read ${streamOn(streamPort)}; this process reads ${streamOn(otherStreamPort)}`;
    const log = (): string => c.stdout() + c.stderr();
    await waitFor(`c to log "${refusal}"`, () => (log().includes(refusal) ? true : undefined), 30_000, 200);
    const line = log().split('\n').find((l) => l.includes(refusal))!;
    expect(JSON.parse(line)).toMatchObject({ acquisition: id, from: bProcess, msg: 'acquisition not taken: this process may not own it' });
    const status = await waitFor('daqflow status to show it unowned', async () => {
      const r = await runCli(['status', '--kind', 'acquisition'], environment.env);
      return r.code === 0 && /unowned/.test(r.stdout) ? r : undefined;
    }, 30_000, 500);
    expect(status.stdout).toMatch(new RegExp(`acquisition\\s+${id}\\s+held by ${bProcess}, gone`));
    expect((await view(environment, id)).state).toBe('writing');

    // b's next process: same node, same stream, a new ring buffer without the pulses written.
    await launch(environment, { node: 'b', roles: 'acquisitions' });
    const done = await untilFinal(environment, id);
    expect(done.state).toBe('failed');
    expect(done.error).toMatch(/^PULSES_LOST: the process stopped while writing/);
    const draft = join(dataRoot, 'node', '.stranded.h5.draft');
    expect(done.draftPath).toBe(draft);
    expect(done.error).toContain(draft);
    expect(existsSync(draft)).toBe(true);
    expect(existsSync(join(dataRoot, 'node', 'stranded.h5'))).toBe(false);
    // Only b ever opened it.
    expect(writersOf(await eventsOf(environment, id)).map((w) => w.node)).toEqual(['b']);
  }, 300_000);
});
