import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { ownershipBuckets } from '../../adapters/ownership/ownershipBuckets.js';
import { createDb } from '../../adapters/postgres/createDb.js';
import { createSimulatorSource } from '../../adapters/dataLogger/simulator.js';
import type { RecordedEvent } from '../../events/envelope.js';
import { readCheckpoint } from '../../projections/checkpoints.js';
import { DEFAULT_PROJECTOR_NAME } from '../../projections/projector.js';
import { startFakeArchiverAppliance, type FakeArchiverServer } from '../fakes/archiverApplianceServer.js';
import { chunkRequestsAfterWritten } from '../harness/chunkRequestsAfterWritten.js';
import { startDaqflowProcess, type DaqflowProcess } from '../harness/daqflowProcess.js';
import { startNatsCluster, type ClusterNode, type NatsCluster } from '../harness/natsCluster.js';
import { startOwnPostgres, type OwnPostgres } from '../harness/ownPostgres.js';
import { readPresence } from '../harness/presence.js';
import { repeated, storedMessageIds } from '../harness/storedMessageIds.js';
import { demoEventTypes } from '../harness/demoEvents.js';
import { uniqueToken } from '../harness/testNames.js';
import { commandUntilAnswered, foldStatus, mapConcurrent, projectedStatus, readWholeStream, untilQueryRefused, useE2eEnvironments, versionProblems, waitFor } from '../e2e/e2eHelpers.js';

/*
 * "daqflow stays up when its servers go away", with two `daqflow up` processes sharing a
 * three-node nats-server cluster (R3 event stream and lease buckets) and one PostgreSQL of this
 * file's own. Demo jobs and grab runs (against the loopback Archiver Appliance, which counts the
 * requests) run on both processes while
 *  1. the nats-server that leads the event stream and both lease buckets, and that a daqflow
 *     process is connected to, is stopped and started again: the stream and the buckets elect
 *     other leaders while the process reconnects to another node, and its lease renewals must
 *     get through before it is fenced (or its actors are taken over once, not twice);
 *  2. PostgreSQL is stopped and started again.
 * Each time: every job completes, each demo step and each grab chunk is done once, no event is
 * stored twice, the projections equal the fold of the stream, and neither process exits.
 */

const DEMOS = 12;
const DEMO = { steps: 10, intervalMs: 1_000 };
const PARAMETERS = ['SIM:SINE', 'SIM:RAMP'];
const CHUNK_SECONDS = 600; // 6 chunks per parameter and hour
const CHUNKS_PER_GRAB = 12;
const ARCHIVER_LATENCY_MS = 600;
/** Each grab its own day, so that its chunk requests are its own. */
const windowOf = (day: number) => ({ startAt: `2026-11-${10 + day}T00:00:00Z`, stopAt: `2026-11-${10 + day}T01:00:00Z` });

const e2e = useE2eEnvironments('two-process-restart');
let cluster: NatsCluster;
let postgres: OwnPostgres;
let archiver: FakeArchiverServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
const token = uniqueToken();
const stream = `T_${token}`;
const prefix = `t_${token}`;
const processes: DaqflowProcess[] = [];

beforeAll(async () => {
  const dir = join(e2e.home, 'cluster');
  mkdirSync(dir, { recursive: true });
  [cluster, postgres, archiver] = await Promise.all([
    startNatsCluster({ dir, monitoring: true }),
    startOwnPostgres('two-process'),
    startFakeArchiverAppliance({ source: createSimulatorSource({ seed: 'two-process', rateHz: 1 }) }),
  ]);
  nc = await connect({ servers: cluster.nodes.map((n) => n.url), name: 'two-process-client', maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  jsm = await jetstreamManager(nc);
  const dataRoot = join(e2e.home, 'data');
  mkdirSync(dataRoot, { recursive: true });
  const envOf = (n: number): Record<string, string> => ({
    DAQFLOW_NATS_URL: cluster.url,
    DAQFLOW_STREAM_REPLICAS: '3',
    DAQFLOW_DATABASE_URL: postgres.url,
    DAQFLOW_HOME: join(e2e.home, `process-${n}`),
    DAQFLOW_NODE: `node-${n}`,
    DAQFLOW_STREAM: stream,
    DAQFLOW_SUBJECT_PREFIX: prefix,
    DAQFLOW_ARCHIVER_URL: archiver.url,
    DAQFLOW_DATA_ROOT: dataRoot,
    DAQFLOW_TIMEZONE: 'UTC',
    // info: the outages and their ends are logged at error and info.
    DAQFLOW_LOG_LEVEL: 'info',
  });
  // Generous: a loaded machine takes long to load the job modules.
  processes.push(...(await Promise.all([0, 1].map((n) => startDaqflowProcess({ env: envOf(n), timeoutMs: 150_000 })))));
  archiver.setLatency(ARCHIVER_LATENCY_MS);
}, 240_000);

afterAll(async () => {
  await nc?.close();
  await archiver?.close();
  await cluster?.stop();
  await postgres?.destroy();
});

const showProcesses = (): string =>
  processes.map((p, i) => `--- daqflow up ${i} (pid ${p.child.pid}, exit ${p.child.exitCode ?? p.child.signalCode ?? 'none'}) stderr (tail) ---\n${p.stderr().split('\n').slice(-40).join('\n')}`).join('\n');

const alive = (p: DaqflowProcess): boolean => p.child.exitCode === null && p.child.signalCode === null;

/** A running node's URL, other than `but`: the helpers' stream readers connect to one server. */
const liveUrl = (but?: ClusterNode): string => {
  const node = cluster.nodes.find((n) => n.running() && n !== but);
  if (!node) throw new Error('no nats-server runs');
  return node.url;
};

/** `read` again until it answers: during an election a read may time out. */
const retried = <T>(what: string, read: () => Promise<T>): Promise<T> => waitFor(what, () => read().catch(() => undefined), 60_000, 500);

const wholeStream = (but?: ClusterNode): Promise<RecordedEvent[]> => retried('the whole stream', () => readWholeStream(liveUrl(but), stream, prefix));

/** Sends a command until it is answered, with one request id, as docs/api.md asks of a client. */
const command = (subject: string, body: Record<string, unknown>): Promise<Record<string, unknown>> =>
  commandUntilAnswered(nc, `${prefix}.${subject}`, body, { timeoutMs: 60_000, intervalMs: 250, requestTimeoutMs: 10_000 });

const startDemos = (round: string): Promise<string[]> =>
  mapConcurrent(Array.from({ length: DEMOS }, (_, i) => i), 4, async (i) =>
    String((await command('demo.start', { ...DEMO, label: `${round} ${i}`, requestId: `${round}-demo-${i}` })).id),
  );

const startGrab = async (round: string, day: number): Promise<string> =>
  String((await command('grabs.start', { parameters: PARAMETERS, ...windowOf(day), chunkSeconds: CHUNK_SECONDS, outDir: `out/${round}`, requestId: `${round}-grab` })).id);

const of = (events: readonly RecordedEvent[], id: string): RecordedEvent[] => events.filter((e) => e.actorId === id);

/** Waits until every job has done `steps` demo steps (or written as many chunks): mid-run, by the work done. */
const untilMidRun = (what: string, demoIds: readonly string[], grabIds: readonly string[], steps: number): Promise<RecordedEvent[]> =>
  waitFor(
    what,
    async () => {
      const events = await readWholeStream(liveUrl(), stream, prefix).catch(() => undefined);
      if (!events) return undefined;
      const demosAt = demoIds.every((id) => of(events, id).filter((e) => e.type === 'stepDone').length >= steps);
      const grabsAt = grabIds.every((id) => of(events, id).filter((e) => e.type === 'chunkWritten').length >= steps);
      return demosAt && grabsAt ? events : undefined;
    },
    60_000,
    250,
  );

/** Every job final in the stream. */
const untilAllFinal = (ids: readonly string[], but?: ClusterNode): Promise<RecordedEvent[]> =>
  waitFor(
    () => `every job to end\n${showProcesses()}`,
    async () => {
      const events = await readWholeStream(liveUrl(but), stream, prefix).catch(() => undefined);
      if (!events) return undefined;
      const final = new Set(foldStatus(events).filter((s) => s.final).map((s) => s.id));
      return ids.every((id) => final.has(id)) ? events : undefined;
    },
    120_000,
    500,
  );

/**
 * Notes to one demo job that waits out the fault (its first step is minutes away), one after
 * the other, while `going()`: commands that land on either process, owner or not, during the
 * fault. Each is sent until answered, with one request id. Fills in the request ids answered ok
 * and all sent.
 */
const sendNotes = async (round: string, id: string, going: () => boolean, { stored, sent }: { stored: string[]; sent: string[] }): Promise<void> => {
  for (let n = 0; going(); n++) {
    const requestId = `${round}-note-${n}`;
    sent.push(requestId);
    await command('demo.note', { id, text: `note ${n}`, requestId });
    stored.push(requestId);
  }
};

/** Notes answered ok and not stored exactly once. */
const notesNotOnce = (events: readonly RecordedEvent[], stored: readonly string[]): string[] => {
  const counts = new Map<string, number>();
  for (const e of events) if (e.type === 'noted' && e.commandId) counts.set(e.commandId, (counts.get(e.commandId) ?? 0) + 1);
  return [...counts].filter(([r, n]) => n !== 1 || !stored.includes(r)).map(([r, n]) => `${r} stored ${n} times`).concat(stored.filter((r) => !counts.has(r)).map((r) => `${r} answered ok, not stored`));
};

/** Log lines of the lease manager that say a process was fenced or took actors over. */
const leaseChanges = (): string =>
  processes
    .map((p, i) => {
      const text = p.stderr();
      const count = (what: string): number => text.split(what).length - 1;
      return `process ${i}: fenced ${count('presence not renewed in time')}, takeovers ${count('actors taken over')}`;
    })
    .join('; ');

/** The longest pause between two events of one job, for the summary line: how long the fault held jobs up. */
const longestPause = (events: readonly RecordedEvent[], ids: readonly string[]): string => {
  let worst = { ms: 0, what: 'none' };
  for (const id of ids) {
    const mine = of(events, id);
    for (let i = 1; i < mine.length; i++) {
      const ms = Date.parse(mine[i]!.time) - Date.parse(mine[i - 1]!.time);
      if (ms > worst.ms) worst = { ms, what: `${mine[i - 1]!.type} → ${mine[i]!.type} of ${id} at ${mine[i - 1]!.time}` };
    }
  }
  return `${worst.ms} ms (${worst.what})`;
};


/**
 * The checks both faults share: every job completed, each demo step and grab chunk once, no
 * event stored twice (position, event id, message id, actor version).
 */
const checkJobsOnce = async (events: readonly RecordedEvent[], round: string, demoIds: readonly string[], grabIds: readonly string[], but?: ClusterNode): Promise<void> => {
  const folded = new Map(foldStatus(events).map((s) => [s.id, s]));
  expect(
    [...demoIds, ...grabIds].map((id) => folded.get(id)).filter((s) => s?.state !== 'completed'),
    'jobs not completed',
  ).toEqual([]);
  expect(events.map((e) => e.position), 'positions 1..n').toEqual(Array.from({ length: events.length }, (_, i) => i + 1));
  expect(repeated(events.map((e) => e.id)), 'event ids stored twice').toEqual([]);
  expect(repeated(await retried('the message ids', () => storedMessageIds(liveUrl(but), stream, events.length))), 'Nats-Msg-Id stored twice').toEqual([]);
  expect(versionProblems(events), 'actor versions 1..n, each once').toEqual([]);
  for (const [i, id] of demoIds.entries()) {
    const mine = of(events, id);
    expect(mine.filter((e) => e.commandId === `${round}-demo-${i}`), `${round}-demo-${i} stored once`).toHaveLength(1);
    expect(mine.map((e) => e.type).filter((t) => t !== 'noted'), `events of demo ${id}`).toEqual(demoEventTypes(DEMO.steps));
    expect(mine.filter((e) => e.type === 'stepDone').map((e) => (e.data as { step: number }).step), `steps of demo ${id}`).toEqual(
      Array.from({ length: DEMO.steps }, (_, s) => s + 1),
    );
  }
  for (const id of grabIds) {
    const mine = of(events, id);
    const chunks = mine.filter((e) => e.type === 'chunkWritten').map((e) => String((e.data as { index: number }).index));
    expect(chunks, `chunks of grab ${id}`).toHaveLength(CHUNKS_PER_GRAB);
    expect(repeated(chunks), `chunks of grab ${id} written twice`).toEqual([]);
    expect(mine.filter((e) => e.type === 'fileWritten'), `file of grab ${id}`).toHaveLength(1);
    expect(mine.filter((e) => e.type === 'chunkFailed' || e.type === 'effectFailed'), `failures of grab ${id}`).toEqual([]);
  }
  expect(chunkRequestsAfterWritten(events, archiver), 'chunks asked of the archiver again after they were written').toEqual([]);
  // And daqflow answers for each, through whichever process takes the request.
  for (const [service, id] of [...demoIds.map((id) => ['demo', id] as const), ...grabIds.map((id) => ['grabs', id] as const)]) {
    const view = await command(`${service}.get`, { id });
    expect(view.state, `${service}.get ${id}`).toBe('completed');
  }
};

/** actor_status and actor_transition as the projector wrote them, beside the fold, once its checkpoint is at the stream's end. */
const untilProjected = (events: readonly RecordedEvent[]) => {
  const last = events[events.length - 1]?.position ?? 0;
  return waitFor(
    `the projector to reach position ${last}`,
    async () => {
      const db = createDb(postgres.url, { max: 1 });
      try {
        if ((await readCheckpoint(db, DEFAULT_PROJECTOR_NAME)) !== last) return undefined;
        const transitions = await db.selectFrom('actor_transition').select(['position']).orderBy('position').execute();
        return { status: await projectedStatus(db), transitions: transitions.map((t) => Number(t.position)) };
      } catch {
        return undefined;
      } finally {
        await db.destroy();
      }
    },
    60_000,
    250,
  );
};

/** The JetStream streams whose leader the stopped node is made to be: the events and both lease buckets. */
const ledStreams = (): string[] => [stream, ...Object.values(ownershipBuckets(stream)).map((bucket) => `KV_${bucket}`)];

const leaderOf = async (name: string): Promise<string | undefined> => (await jsm.streams.info(name).catch(() => undefined))?.cluster?.leader;
const streamLeader = (): Promise<string | undefined> => leaderOf(stream);

/** How many connections of daqflow processes (named `daqflow`) a node serves, from its /connz. */
const daqflowConnections = async (node: ClusterNode): Promise<number> => {
  if (!node.running()) return 0;
  const reply = await fetch(`${node.monitorUrl}/connz?limit=4096`);
  const body = (await reply.json()) as { connections?: Array<{ name?: string }> };
  return (body.connections ?? []).filter((c) => c.name === 'daqflow').length;
};

const connectionsByNode = async (): Promise<Map<ClusterNode, number>> =>
  new Map(await Promise.all(cluster.nodes.map(async (n) => [n, await daqflowConnections(n)] as const)));

/**
 * Moves the leadership of stream `name` to `target` by asking its leader to step down until the
 * election lands there (nats-server 2.9 picks the new leader among the current replicas).
 */
const leadFrom = async (target: ClusterNode, name: string): Promise<number> => {
  for (let stepDowns = 0; ; stepDowns++) {
    const leader = await waitFor(`${name} to have a leader`, () => leaderOf(name), 30_000, 100);
    if (leader === target.name) return stepDowns;
    if (stepDowns >= 12) throw new Error(`${target.name} did not become the leader of ${name} after ${stepDowns} step-downs`);
    await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${name}`, '', { timeout: 10_000 }).catch(() => undefined);
    await waitFor(`a leader of ${name} other than ${leader}`, async () => {
      const now = await leaderOf(name);
      return now !== undefined && now !== leader ? now : undefined;
    }, 30_000, 100);
  }
};

/** Makes `target` lead the event stream and both lease buckets at once; the step-downs it took. */
const leadAllFrom = async (target: ClusterNode): Promise<number> => {
  let stepDowns = 0;
  for (let round = 0; round < 3; round++) {
    for (const name of ledStreams()) stepDowns += await leadFrom(target, name);
    const leaders = await Promise.all(ledStreams().map(leaderOf));
    if (leaders.every((l) => l === target.name)) return stepDowns;
  }
  throw new Error(`${target.name} does not lead ${ledStreams().join(', ')} at once`);
};

describe('two daqflow up processes while their servers stop and come back', () => {
  it('a nats-server of the cluster, leading the stream and lease buckets and serving a process, stopped and started: every job completes once', async () => {
    const t0 = Date.now();
    onTestFailed(() => console.error(showProcesses()));
    expect((await jsm.streams.info(stream)).config.num_replicas).toBe(3);

    // --- the node to stop: it serves a daqflow process and leads the stream ---------------------
    const before = await connectionsByNode();
    const leaderNow = await streamLeader();
    const serving = [...before].filter(([, n]) => n > 0).sort(([a, x], [b, y]) => y - x || (a.name === leaderNow ? -1 : b.name === leaderNow ? 1 : 0));
    expect(serving.reduce((sum, [, n]) => sum + n, 0), 'daqflow connections (one per process)').toBe(processes.length);
    const target = (serving.find(([n]) => n.name === leaderNow) ?? serving[0])?.[0] as ClusterNode;
    let stepDowns = await leadAllFrom(target);

    // --- the work, on both processes ------------------------------------------------------------
    const [demoIds, grabIds, noted] = await Promise.all([
      startDemos('nats'),
      Promise.all([startGrab('nats-0', 0), startGrab('nats-1', 1)]),
      command('demo.start', { steps: 1, intervalMs: 600_000, label: 'noted', requestId: 'nats-noted' }).then((b) => String(b.id)),
    ]);
    await untilMidRun('every job to be under way (two steps or chunks each)', demoIds, grabIds, 2);

    // --- the outage -----------------------------------------------------------------------------
    // Leadership may have moved under the load; the node must still lead all three.
    stepDowns += await leadAllFrom(target);
    const served = await daqflowConnections(target);
    expect(served, `daqflow connections on ${target.name}`).toBeGreaterThan(0);
    const atStop = await wholeStream();
    const positionAtStop = atStop.length;
    // The demo jobs still running when the node goes must each step while it is away.
    const finalAtStop = new Set(foldStatus(atStop).filter((f) => f.final).map((f) => f.id));
    const runningAtStop = demoIds.filter((id) => !finalAtStop.has(id));
    expect(runningAtStop.length, 'demo jobs still running at the stop (the step-downs took too long?)').toBeGreaterThanOrEqual(DEMOS / 2);
    let noting = true;
    const notes = { stored: [] as string[], sent: [] as string[] };
    const notesDone = sendNotes('nats', noted, () => noting, notes);
    notesDone.catch(() => undefined); // awaited below; not unhandled meanwhile
    const stoppedAt = Date.now();
    await target.stop();
    const storedAtStop = notes.stored.length;

    const newLeader = await waitFor('another node to lead the stream', async () => {
      const now = await streamLeader();
      return now !== undefined && now !== target.name ? now : undefined;
    }, 60_000, 100);
    const electedMs = Date.now() - stoppedAt;
    await waitFor(
      'every daqflow connection to be back, on the other nodes',
      async () => ([...(await connectionsByNode()).values()].reduce((a, b) => a + b, 0) === processes.length ? true : undefined),
      60_000,
      200,
    );
    const reconnectedMs = Date.now() - stoppedAt;
    // The jobs go on without the node: every demo job still running records a step while it is away.
    await waitFor(
      'a step of every running demo job while the node is away',
      async () => {
        const events = await readWholeStream(liveUrl(target), stream, prefix).catch(() => undefined);
        const stepped = new Set(events?.filter((e) => e.position > positionAtStop && e.type === 'stepDone').map((e) => e.actorId));
        return runningAtStop.every((id) => stepped.has(id)) ? true : undefined;
      },
      60_000,
      250,
    );
    // A command lands on either process, owner or not, and is stored while the node is away.
    await waitFor('a note stored while the node is away', () => (notes.stored.length > storedAtStop ? true : undefined), 60_000, 100);
    expect(processes.every(alive), 'a daqflow up exited during the outage').toBe(true);
    const outageMs = Date.now() - stoppedAt;
    const notesWhileAway = notes.stored.length - storedAtStop;
    await target.start();
    await cluster.waitForJetStream();
    noting = false;
    await notesDone;
    // The job the notes went to ends by a command too, also answered once.
    expect((await command('demo.cancel', { id: noted, reason: 'notes done', requestId: 'nats-noted-cancel' })).state).toBe('cancelled');

    // --- every job completes once --------------------------------------------------------------
    const events = await untilAllFinal([...demoIds, ...grabIds, noted]);
    await checkJobsOnce(events, 'nats', demoIds, grabIds);
    expect(notesNotOnce(events, notes.stored), 'notes stored other than once').toEqual([]);
    expect(of(events, noted).map((e) => e.type)).toEqual(['started', ...notes.stored.map(() => 'noted'), 'cancelled']);
    const projected = await untilProjected(events);
    expect(projected.status).toEqual(foldStatus(events));
    expect(projected.transitions).toEqual(events.map((e) => e.position));

    // The node caught up, and both processes are still there and present.
    await waitFor(`${target.name} to be a current replica of the stream again`, async () => {
      const info = await jsm.streams.info(stream).catch(() => undefined);
      const back = info?.cluster?.leader === target.name || (info?.cluster?.replicas ?? []).some((r) => r.name === target.name && r.current && !r.offline);
      return back ? true : undefined;
    }, 60_000, 200);
    expect(processes.every(alive), 'a daqflow up exited').toBe(true);
    await waitFor('both processes present', async () => ((await readPresence(liveUrl(), stream).catch(() => [])).length === 2 ? true : undefined), 30_000, 200);
    for (const p of processes) expect(p.stderr(), 'the process guard caught failures nobody handled').not.toContain('unhandled failure');
    console.info(
      `two-process nats fault: stopped ${target.name} (${served} daqflow connection(s), ${stepDowns} step-down(s) to make it lead the stream and lease buckets); ${newLeader} led after ${electedMs} ms; daqflow reconnected after ${reconnectedMs} ms; node away ${outageMs} ms; ${runningAtStop.length} demo jobs running at the stop; ${notes.stored.length} notes stored once each (${notesWhileAway} while it was away); longest pause of a job ${longestPause(events, [...demoIds, ...grabIds])}, stopped at ${new Date(stoppedAt).toISOString()}; ${events.length - positionAtStop} of ${events.length} events after the stop; ${leaseChanges()}; ${Date.now() - t0} ms`,
    );
  }, 240_000);

  it('PostgreSQL stopped and started: both stay up, queries say STORE_UNAVAILABLE, every job completes once, the projections catch up', async () => {
    const t0 = Date.now();
    onTestFailed(() => console.error(showProcesses()));
    const notReachable = /PostgreSQL is not reachable: /g;
    const outagesBefore = processes.map((p) => p.stderr().match(notReachable)?.length ?? 0);
    const [demoIds, grabId] = await Promise.all([startDemos('pg'), startGrab('pg', 2)]);
    await untilMidRun('every job to be under way (two steps or chunks each)', demoIds, [grabId], 2);

    const positionAtStop = (await wholeStream()).length;
    const stoppedAt = Date.now();
    await postgres.stop();
    const refused = await untilQueryRefused(nc, prefix, 30_000);
    expect(refused.status).toBe('500');
    expect(refused.body).toMatchObject({ error: { code: 'STORE_UNAVAILABLE', details: { retryable: true } } });
    // The jobs go on without it: every demo job records three steps while it is down.
    await waitFor(
      'three steps of every demo job while PostgreSQL is down',
      async () => {
        const events = await readWholeStream(liveUrl(), stream, prefix).catch(() => undefined);
        const steps = (id: string): number => events?.filter((e) => e.position > positionAtStop && e.type === 'stepDone' && e.actorId === id).length ?? 0;
        return demoIds.every((id) => steps(id) >= 3) ? true : undefined;
      },
      60_000,
      250,
    );
    // The projector has met the outage: its process said so.
    await waitFor(
      'a daqflow up to log that PostgreSQL is not reachable',
      async () => (processes.some((p, i) => (p.stderr().match(notReachable)?.length ?? 0) > (outagesBefore[i] ?? 0)) ? true : undefined),
      30_000,
      200,
    );
    expect(processes.every(alive), 'a daqflow up exited during the outage').toBe(true);
    const outageMs = Date.now() - stoppedAt;
    await postgres.start();

    const events = await untilAllFinal([...demoIds, grabId]);
    const roundStarted = events.findIndex((e) => e.commandId === 'pg-demo-0');
    expect(roundStarted).toBeGreaterThan(0);
    await checkJobsOnce(events, 'pg', demoIds, [grabId]);
    const projected = await untilProjected(events);
    expect(projected.status).toEqual(foldStatus(events));
    expect(projected.transitions).toEqual(events.map((e) => e.position));

    expect(processes.every(alive), 'a daqflow up exited').toBe(true);
    for (const [i, p] of processes.entries()) {
      const stderr = p.stderr();
      expect(stderr, 'the process guard caught failures nobody handled').not.toContain('unhandled failure');
      // Once per outage, not once per failed query; and its end once it came.
      const outages = (stderr.match(notReachable)?.length ?? 0) - (outagesBefore[i] ?? 0);
      expect(outages, `process ${i}: outages logged`).toBeLessThanOrEqual(1);
      if (outages === 1) await waitFor(`process ${i} to log that PostgreSQL is back`, async () => (/PostgreSQL is back after \d+\.\d s/.test(p.stderr()) ? true : undefined), 30_000, 200);
    }

    // Both stop cleanly.
    for (const p of processes) p.kill('SIGTERM');
    const exits = await Promise.all(processes.map((p) => p.exited));
    expect(exits, showProcesses()).toEqual(processes.map(() => ({ code: 0, signal: null })));
    console.info(`two-process postgres fault: down ${outageMs} ms; ${events.length - positionAtStop} of ${events.length} events after the stop; ${leaseChanges()}; ${Date.now() - t0} ms`);
  }, 240_000);
});
