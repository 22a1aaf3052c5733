import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSimulatorSource } from '../../adapters/dataLogger/simulator.js';
import type { RecordedEvent } from '../../events/envelope.js';
import { startFakeArchiverAppliance, type FakeArchiverServer } from '../fakes/archiverApplianceServer.js';
import { killAllDaqflowProcesses, startDaqflowProcess } from '../harness/daqflowProcess.js';
import { startNatsCluster, type ClusterNode, type NatsCluster } from '../harness/natsCluster.js';
import { demoEventTypes } from '../harness/demoEvents.js';
import { repeated, storedMessageIds } from '../harness/storedMessageIds.js';
import {
  apiRequest,
  commandUntilAnswered,
  foldStatus,
  mapConcurrent,
  projectedStatus,
  readWholeStream,
  streamLastPosition,
  useE2eEnvironments,
  versionProblems,
  waitFor,
  waitForProjector,
  type DaqflowEnvironment,
} from '../e2e/e2eHelpers.js';

/*
 * daqflow on a three-node JetStream cluster with an R3 event stream (DAQFLOW_STREAM_REPLICAS=3):
 * demo jobs and grab runs (against the loopback Archiver Appliance) run while the node leading
 * the stream is killed with -9. Appends resume once another node leads it; every acknowledged
 * command is stored once, no event twice (no message id, no actor version); each job's events
 * are the ones its machine implies; the projections equal the fold of the stream. The killed
 * node is started again at the end and catches up, as an operator would bring it back.
 */

const DEMO_JOBS = 50;
const DEMO_BEFORE_KILL = 30;
const DEMO = { steps: 3, intervalMs: 300 };
const GRABS = 6;
const PARAMETERS = ['SIM:SINE', 'SIM:RAMP', 'SIM:CONST'];
const WINDOW = { startAt: '2026-11-20T00:00:00Z', stopAt: '2026-11-20T01:00:00Z' };
const CHUNK_SECONDS = 900; // 4 chunks per parameter, 12 per grab
const CHUNKS_PER_GRAB = 12;

const e2e = useE2eEnvironments('leader-kill');
let cluster: NatsCluster;
let archiver: FakeArchiverServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
let environment: DaqflowEnvironment;
let env: Record<string, string>;

beforeAll(async () => {
  const dir = join(e2e.home, 'cluster');
  mkdirSync(dir, { recursive: true });
  [cluster, archiver] = await Promise.all([
    startNatsCluster({ dir }),
    startFakeArchiverAppliance({ source: createSimulatorSource({ seed: 'leader-kill', rateHz: 1 }) }),
  ]);
  nc = await connect({ servers: cluster.nodes.map((n) => n.url), name: 'leader-kill-client', maxReconnectAttempts: -1 });
  jsm = await jetstreamManager(nc);
  environment = await e2e.create();
  const dataRoot = join(e2e.home, 'data');
  mkdirSync(dataRoot, { recursive: true });
  env = {
    ...environment.env,
    DAQFLOW_NATS_URL: cluster.url,
    DAQFLOW_STREAM_REPLICAS: '3',
    DAQFLOW_ARCHIVER_URL: archiver.url,
    DAQFLOW_DATA_ROOT: dataRoot,
  };
}, 240_000);

afterEach(async () => {
  await killAllDaqflowProcesses();
});

afterAll(async () => {
  await nc?.close();
  await archiver?.close();
  await cluster?.stop();
});

/** A running node's URL: the stream readers of the helpers connect to one server only. */
const liveUrl = (): string => cluster.nodes.find((n) => n.running())?.url as string;

const subject = (service: string, verb: string): string => `${environment.prefix}.${service}.${verb}`;

/** Requests answered "retryable" (STORE_UNAVAILABLE) while the stream had no leader. */
let retryableRefusals = 0;

/**
 * Sends a command until it is answered, as docs/api.md asks of a client: while the stream has
 * no leader a request times out or is refused as retryable, and its retry with the same request
 * id is answered once, as a duplicate if it was stored.
 */
const command = (service: string, verb: string, body: Record<string, unknown>): Promise<Record<string, unknown>> =>
  commandUntilAnswered(nc, subject(service, verb), body, { timeoutMs: 120_000, intervalMs: 200, requestTimeoutMs: 5_000, onRetryable: () => retryableRefusals++ });

const streamLeader = async (): Promise<string | undefined> => (await jsm.streams.info(environment.stream).catch(() => undefined))?.cluster?.leader;

/**
 * `read` again until it answers: with one node of three gone, every ephemeral consumer is a
 * proposal both others must take, and on a loaded machine its creation times out now and then.
 */
const readRetried = <T>(what: string, read: () => Promise<T>): Promise<T> =>
  waitFor(what, () => read().catch(() => undefined), 120_000, 1_000);


describe('an R3 event stream whose leader is killed with -9 while jobs run', () => {
  it('resumes appends after the election; nothing acknowledged is lost, nothing stored twice, every job completes once', async () => {
    const up = await startDaqflowProcess({ env, timeoutMs: 90_000 });
    expect((await jsm.streams.info(environment.stream)).config.num_replicas).toBe(3);
    await waitFor('three current replicas', async () => {
      const info = await jsm.streams.info(environment.stream);
      return (info.cluster?.replicas ?? []).filter((r) => r.current).length === 2 ? true : undefined;
    }, 30_000);

    archiver.setLatency(100);
    const grabIds = await mapConcurrent(Array.from({ length: GRABS }, (_, i) => i), 3, async (i) =>
      String(
        (
          await command('grabs', 'start', {
            parameters: PARAMETERS,
            ...WINDOW,
            chunkSeconds: CHUNK_SECONDS,
            outDir: `out/grab-${i}`,
            requestId: `grab-${i}`,
          })
        ).id,
      ),
    );
    const startDemo = async (i: number): Promise<string> =>
      String((await command('demo', 'start', { ...DEMO, label: `demo ${i}`, requestId: `demo-${i}` })).id);
    const demoIds = await mapConcurrent(Array.from({ length: DEMO_BEFORE_KILL }, (_, i) => i), 6, startDemo);

    // Mid-run: some chunks written, no grab finished.
    await waitFor('grab chunks to be written', async () => {
      const events = await readWholeStream(liveUrl(), environment.stream, environment.prefix);
      return events.filter((e) => e.type === 'chunkWritten').length >= 6 ? true : undefined;
    }, 60_000);
    const positionAtKill = await streamLastPosition(liveUrl(), environment.stream, environment.prefix);
    const leaderName = await streamLeader();
    const leader = cluster.nodes.find((n) => n.name === leaderName) as ClusterNode;
    expect(leader, `the stream's leader ${leaderName}`).toBeDefined();
    await leader.kill();
    const killedAt = Date.now();

    // Commands sent during and after the election, while the jobs started before it go on.
    const later = mapConcurrent(Array.from({ length: DEMO_JOBS - DEMO_BEFORE_KILL }, (_, i) => DEMO_BEFORE_KILL + i), 6, startDemo);
    later.catch(() => undefined); // awaited below; not unhandled meanwhile
    const newLeader = await waitFor('another node to lead the stream', async () => {
      const now = await streamLeader();
      return now !== undefined && now !== leaderName ? now : undefined;
    }, 60_000, 100);
    const electedAfterMs = Date.now() - killedAt;
    const laterDemoIds = await later;
    const allDemoIds = [...demoIds, ...laterDemoIds];

    // Every job ends, as the stream says (read through a running node; polling daqflow's API
    // instead would add an ephemeral consumer per job and poll to a loaded cluster).
    const allIds = [...grabIds, ...allDemoIds];
    await waitFor(
      () => 'every job to end',
      async () => {
        // During the election a read may time out: asked again at the next poll.
        const stored = await readWholeStream(liveUrl(), environment.stream, environment.prefix).catch(() => undefined);
        if (!stored) return undefined;
        const folded = foldStatus(stored);
        const final = new Set(folded.filter((s) => s.final).map((s) => s.id));
        return allIds.every((id) => final.has(id)) ? true : undefined;
      },
      420_000,
      2_000,
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n--- daqflow stderr (tail) ---\n${up.stderr().split('\n').slice(-30).join('\n')}`, { cause: e });
    });
    // And daqflow answers for each, one request at a time, that it completed.
    let getRetries = 0;
    for (const [service, id] of [...grabIds.map((id) => ['grabs', id] as const), ...allDemoIds.map((id) => ['demo', id] as const)]) {
      const view = await waitFor(`${service}.get ${id}`, async () => {
        const outcome = await apiRequest(nc, subject(service, 'get'), { id }, 10_000);
        if (outcome.kind === 'ok') return outcome.body;
        getRetries++;
        return undefined;
      }, 120_000, 1_000);
      expect(view.state, `${service} ${id}`).toBe('completed');
    }

    // Appends went on after the election.
    const events = await readRetried('the whole stream', () => readWholeStream(liveUrl(), environment.stream, environment.prefix));
    const afterKill = events.filter((e) => e.position > positionAtKill);
    expect(afterKill.length, 'events appended after the kill').toBeGreaterThan(0);
    expect(new Set(afterKill.map((e) => e.actorId)).size).toBeGreaterThan(DEMO_JOBS - DEMO_BEFORE_KILL);

    // Nothing stored twice: positions, event ids, message ids, actor versions.
    expect(events.map((e) => e.position)).toEqual(Array.from({ length: events.length }, (_, i) => i + 1));
    expect(repeated(events.map((e) => e.id)), 'event ids stored twice').toEqual([]);
    expect(repeated(await readRetried('the message ids', () => storedMessageIds(liveUrl(), environment.stream, events.length))), 'Nats-Msg-Id stored twice').toEqual([]);
    expect(versionProblems(events), 'actor versions 1..n, each once').toEqual([]);

    // Each command acknowledged once in the stream; each job's events as its machine implies.
    const byActor = new Map<string, RecordedEvent[]>();
    for (const e of events) byActor.set(e.actorId, [...(byActor.get(e.actorId) ?? []), e]);
    for (const [i, id] of allDemoIds.entries()) {
      const mine = byActor.get(id) ?? [];
      expect(mine.filter((e) => e.commandId === `demo-${i}`).length, `demo-${i} stored once`).toBe(1);
      expect(mine.map((e) => e.type), `events of demo ${id}`).toEqual(demoEventTypes(DEMO.steps));
      expect(mine.filter((e) => e.type === 'stepDone').map((e) => (e.data as { step: number }).step)).toEqual([1, 2, 3]);
    }
    for (const [i, id] of grabIds.entries()) {
      const mine = byActor.get(id) ?? [];
      expect(mine.filter((e) => e.commandId === `grab-${i}`).length, `grab-${i} stored once`).toBe(1);
      const chunks = mine.filter((e) => e.type === 'chunkWritten').map((e) => {
        const data = e.data as { index: number; parameter: string };
        return `${data.parameter}#${data.index}`;
      });
      expect(chunks.length, `chunks of grab ${id}`).toBe(CHUNKS_PER_GRAB);
      expect(repeated(chunks), `chunks of grab ${id} written twice`).toEqual([]);
      expect(mine.filter((e) => e.type === 'fileWritten').length, `file of grab ${id}`).toBe(1);
      expect(mine.filter((e) => e.type === 'chunkFailed' || e.type === 'effectFailed'), `failures of grab ${id}`).toEqual([]);
    }

    // The projections equal the fold of the stream.
    const last = await readRetried('the last position', () => streamLastPosition(liveUrl(), environment.stream, environment.prefix));
    expect(last).toBe(events.length);
    await waitForProjector(environment.database, last, 60_000);
    expect(await projectedStatus(environment.database.db)).toEqual(foldStatus(events));

    // The killed node comes back and catches up with what was stored without it.
    await leader.start();
    await waitFor('the restarted node to be a current replica again', async () => {
      const info = await jsm.streams.info(environment.stream).catch(() => undefined);
      const back = [info?.cluster?.leader === leader.name, ...(info?.cluster?.replicas ?? []).filter((r) => r.name === leader.name).map((r) => r.current && !r.offline)];
      return back.some(Boolean) ? true : undefined;
    }, 60_000);

    up.kill('SIGTERM');
    expect((await up.exited).code, up.stderr()).toBe(0);
    console.info(`${leaderName} killed; ${newLeader} seen leading after ${electedAfterMs} ms; ${afterKill.length} of ${events.length} events appended after the kill; ${retryableRefusals} requests refused as retryable; ${getRetries} get requests repeated`);
  }, 900_000);
});
