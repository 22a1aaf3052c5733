import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { silentLogger, type Logger } from '../../actors/runtime/logger.js';
import { freePort } from '../embedded/freePort.js';
import { startNatsServer, type RunningNatsServer } from '../embedded/natsServer.js';
import type { ActorPlacement } from '../../actors/runtime/ownership.js';
import { uniqueToken } from '../../test/harness/testNames.js';
import { waitFor } from '../../test/harness/waitFor.js';
import { startLeases, type LeaseManager, type LeasedRuntime } from './leaseManager.js';
import { listKeys } from './listKeys.js';
import { ownershipBuckets } from './ownershipBuckets.js';

/*
 * The leases on a real nats-server: a claim has one winner, a process that cannot renew gives
 * its actors up before another takes them over, a clean stop hands them over at once, and a
 * kind's placement keeps an actor from the processes it does not allow; a process started while
 * JetStream does not answer yet waits for it as long as it is told to.
 */

const natsUrl = inject('natsUrl');
const TTL_MS = 1_500;
const connections: NatsConnection[] = [];
const managers: LeaseManager[] = [];
const streams: string[] = [];

afterEach(async () => {
  for (const manager of managers.splice(0)) await manager.stop().catch(() => undefined);
  for (const nc of connections.splice(0)) await nc.close().catch(() => undefined);
});

afterAll(async () => {
  const nc = await connect({ servers: natsUrl });
  const jsm = await jetstreamManager(nc);
  for (const stream of streams) {
    const names = ownershipBuckets(stream);
    await jsm.streams.delete(`KV_${names.processes}`).catch(() => undefined);
    await jsm.streams.delete(`KV_${names.owners}`).catch(() => undefined);
  }
  await nc.close();
});

/** A runtime stand-in that records when it adopted or released what. */
const recorder = () => {
  const log: Array<{ what: 'adopt' | 'release'; id: string; at: number }> = [];
  const runtime: LeasedRuntime = {
    adopt: (_kind, id) => {
      log.push({ what: 'adopt', id, at: Date.now() });
      return Promise.resolve(true);
    },
    release: (_kind, id) => void log.push({ what: 'release', id, at: Date.now() }),
    ownedCounts: () => ({}),
  };
  return { log, runtime };
};

/** Stored kinds whose role (module name) differs, as in the registry. */
const roleOfKind = (kind: string): string => ({ grab: 'grabs' })[kind] ?? kind;

const start = async (stream: string, node: string, roles: readonly string[] = ['demo'], placement?: ActorPlacement) => {
  const nc = await connect({ servers: natsUrl, name: `lease-${node}` });
  connections.push(nc);
  const leases = await startLeases({
    nc,
    stream,
    replicas: 1,
    node,
    roles,
    roleOfKind,
    projectorRole: false,
    ...(placement ? { placement: () => placement } : {}),
    settings: { ttlMs: TTL_MS },
    logger: silentLogger,
  });
  managers.push(leases);
  const { log, runtime } = recorder();
  leases.bind(runtime);
  leases.start();
  return { nc, leases, log };
};

const freshStream = (): string => {
  const stream = `T_LEASE_${uniqueToken()}`;
  streams.push(stream);
  return stream;
};

describe('ownership leases on nats-server', () => {
  it('gives a new actor to one claimant only, and another kind to none', async () => {
    const stream = freshStream();
    const [a, b] = await Promise.all([start(stream, 'a'), start(stream, 'b')]);
    const claims = await Promise.all([a.leases.claimNew('demo', 'x1'), b.leases.claimNew('demo', 'x1')]);
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(a.leases.owns('demo', 'x1')).not.toBe(b.leases.owns('demo', 'x1'));
    expect(await a.leases.claimNew('grab', 'g1')).toBe(false);
    // A finished actor leaves nothing in the owners bucket, not even a marker.
    const winner = a.leases.owns('demo', 'x1') ? a.leases : b.leases;
    winner.finished('demo', 'x1');
    const jsm = await jetstreamManager(a.nc);
    await waitFor('the finished actor\'s key to go', async () => ((await listKeys(jsm, ownershipBuckets(stream).owners)).length === 0 ? true : undefined), 5_000, 20);
    expect(winner.owns('demo', 'x1')).toBe(false);
  });

  it('a process that cannot renew releases its actors before another adopts them', async () => {
    const stream = freshStream();
    const a = await start(stream, 'a');
    const b = await start(stream, 'b');
    // Both see each other before the cut.
    await new Promise((r) => setTimeout(r, TTL_MS / 2));
    for (const id of ['y1', 'y2', 'y3']) expect(await a.leases.claimNew('demo', id)).toBe(true);
    // a's connection goes away: its renewals fail from now on, as in a partition.
    await a.nc.close();
    await waitFor('b to adopt the three actors', async () => (b.log.filter((e) => e.what === 'adopt').length === 3 ? true : undefined), TTL_MS * 10, 50);
    const released = a.log.filter((e) => e.what === 'release');
    expect(released.map((e) => e.id).sort()).toEqual(['y1', 'y2', 'y3']);
    const lastRelease = Math.max(...released.map((e) => e.at));
    const firstAdopt = Math.min(...b.log.filter((e) => e.what === 'adopt').map((e) => e.at));
    expect(lastRelease, 'released before adopted elsewhere').toBeLessThan(firstAdopt);
    for (const id of ['y1', 'y2', 'y3']) {
      expect(a.leases.owns('demo', id)).toBe(false);
      expect(b.leases.owns('demo', id)).toBe(true);
    }
  });

  it('a kind whose role has another name (grab, role grabs) is released too before another adopts it', async () => {
    const stream = freshStream();
    const a = await start(stream, 'a', ['grabs']);
    const b = await start(stream, 'b', ['grabs']);
    await new Promise((r) => setTimeout(r, TTL_MS / 2));
    expect(await a.leases.claimNew('grab', 'g1')).toBe(true);
    await a.nc.close();
    await waitFor('b to adopt g1', async () => (b.log.some((e) => e.what === 'adopt' && e.id === 'g1') ? true : undefined), TTL_MS * 10, 50);
    const released = a.log.filter((e) => e.what === 'release');
    expect(released.map((e) => e.id)).toEqual(['g1']);
    expect(released[0]!.at, 'released before adopted elsewhere').toBeLessThan(b.log.find((e) => e.what === 'adopt')!.at);
  });

  it('a clean stop hands the actors over before the lease would expire', async () => {
    const stream = freshStream();
    const a = await start(stream, 'a');
    const b = await start(stream, 'b');
    expect(await a.leases.claimNew('demo', 'z1')).toBe(true);
    await new Promise((r) => setTimeout(r, TTL_MS / 2));
    const stoppedAt = Date.now();
    await a.leases.stop();
    await waitFor('b to adopt z1', async () => (b.log.some((e) => e.what === 'adopt' && e.id === 'z1') ? true : undefined), TTL_MS * 10, 20);
    expect(b.leases.owns('demo', 'z1')).toBe(true);
    expect(Date.now() - stoppedAt, 'taken over at the next scan, not after the TTL').toBeLessThan(TTL_MS * 4);
  });

  it("a kind's placement: a new actor refused is left for the process that may own it; a takeover refused leaves the lease with the gone owner", async () => {
    const stream = freshStream();
    const asked: string[] = [];
    // New actors by the node their first event names; takeovers only by a process that may take them.
    const placement = (node: string, takesOver: boolean): ActorPlacement => ({
      mayCreate: (first) => (first.data as { node: string }).node === node,
      mayTake: (_kind, id, from) => {
        asked.push(`${node} ${id} from ${from?.node ?? 'nobody'}`);
        return Promise.resolve(from === undefined ? node === 'b' : takesOver);
      },
    });
    const a = await start(stream, 'a', ['demo'], placement('a', false));
    const b = await start(stream, 'b', ['demo'], placement('b', false));
    expect(await a.leases.claimNew('demo', 'p1', { type: 'started', data: { node: 'b' } })).toBe(false);
    // Both see its first event on the stream.
    a.leases.noticed('demo', 'p1', false);
    b.leases.noticed('demo', 'p1', false);
    await waitFor('b to claim p1', async () => (b.log.some((e) => e.what === 'adopt' && e.id === 'p1') ? true : undefined), TTL_MS * 10, 20);
    expect(a.leases.owns('demo', 'p1')).toBe(false);

    await b.nc.close();
    await waitFor('a to judge p1 after b went', () => (asked.includes('a p1 from b') ? true : undefined), TTL_MS * 10, 20);
    expect(a.log.filter((e) => e.what === 'adopt')).toEqual([]);
    const c = await start(stream, 'c', ['demo'], placement('c', true));
    await waitFor('c to take p1 over', async () => (c.log.some((e) => e.what === 'adopt' && e.id === 'p1') ? true : undefined), TTL_MS * 10, 20);
    expect(c.leases.owns('demo', 'p1')).toBe(true);
    expect(a.leases.owns('demo', 'p1')).toBe(false);
  });

  it('waits at start for a JetStream that does not answer yet, as long as it is told to, and not at all when told 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'daqflow-lease-start-'));
    // A server of its own, which the test stops and starts on the same port and store: the shared one must stay up.
    const own = { port: await freePort(), storeDir: join(dir, 'store') };
    let server: RunningNatsServer | undefined = await startNatsServer(own);
    try {
      const url = server.url;
      const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100, timeout: 2_000 });
      connections.push(nc);
      const stream = freshStream();
      const waits: string[] = [];
      const logger: Logger = { ...silentLogger, warn: (_o, msg) => void waits.push(msg ?? '') };
      const options = (startWaitMs: number) => ({
        nc, stream, replicas: 1, node: 'late', roles: ['demo'], roleOfKind, projectorRole: false,
        settings: { ttlMs: TTL_MS }, logger, startWaitMs, servers: url,
      });
      await server.stop();
      server = undefined;

      await expect(startLeases(options(0))).rejects.toMatchObject({ name: 'JetStreamStartError' });
      expect(waits, 'no wait when told 0').toEqual([]);

      const started = startLeases(options(60_000));
      await waitFor('a wait to be logged', () => (waits.some((w) => w.startsWith('waiting for JetStream')) ? true : undefined), 30_000, 20);
      server = await startNatsServer(own);
      const leases = await started;
      managers.push(leases);
      leases.bind(recorder().runtime);
      expect(await leases.claimNew('demo', 'w1')).toBe(true);
      const jsm = await jetstreamManager(nc);
      expect(await listKeys(jsm, ownershipBuckets(stream).processes)).toEqual([leases.processId]);
    } finally {
      for (const manager of managers.splice(0)) await manager.stop().catch(() => undefined);
      for (const nc of connections.splice(0)) await nc.close().catch(() => undefined);
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
