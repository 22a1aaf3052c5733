import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { silentLogger } from '../../actors/runtime/logger.js';
import { uniqueToken } from '../../test/harness/testNames.js';
import { waitFor } from '../../test/harness/waitFor.js';
import { startLeases, type LeaseManager, type LeasedRuntime } from './leaseManager.js';
import { listKeys } from './listKeys.js';
import { ownershipBuckets } from './ownershipBuckets.js';

/*
 * The leases on a real nats-server: a claim has one winner, a process that cannot renew gives
 * its actors up before another takes them over, and a clean stop hands them over at once.
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

const start = async (stream: string, node: string, roles: readonly string[] = ['demo']) => {
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
});
