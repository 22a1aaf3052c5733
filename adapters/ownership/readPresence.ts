import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import type { ProcessPresence } from './leaseManager.js';
import { listKeys } from './listKeys.js';
import { ownershipBuckets } from './ownershipBuckets.js';

/**
 * The presence entries of a bucket already open (deleted and unreadable ones left out): the keys
 * from the bucket stream's subjects (listKeys.ts), then each entry, a few at a time.
 */
export const readPresenceEntries = async (jsm: JetStreamManager, kv: KV, bucket: string): Promise<ProcessPresence[]> => {
  const keys = await listKeys(jsm, bucket);
  const found: ProcessPresence[] = [];
  for (let at = 0; at < keys.length; at += 16) {
    const entries = await Promise.all(keys.slice(at, at + 16).map((key) => kv.get(key)));
    for (const entry of entries) {
      if (entry?.operation !== 'PUT') continue;
      try {
        found.push(entry.json<ProcessPresence>());
      } catch {
        // Not JSON: not written by daqflow; left out.
      }
    }
  }
  return found;
};

/**
 * The live daqflow processes of a stream, from their presence entries (none when no process with
 * leases has run against it yet), ordered by node then start time.
 */
export const readPresence = async (nc: NatsConnection, stream: string): Promise<ProcessPresence[]> => {
  const bucket = ownershipBuckets(stream).processes;
  const jsm = await jetstreamManager(nc);
  let found: ProcessPresence[];
  try {
    found = await readPresenceEntries(jsm, await new Kvm(nc).open(bucket), bucket);
  } catch (e) {
    // No process with leases has run against this stream yet.
    if (!/stream not found/i.test(String(e))) throw e;
    found = [];
  }
  return found.sort((a, b) => a.node.localeCompare(b.node) || a.startedAt.localeCompare(b.startedAt));
};

/** Unfinished actors a presence entry says its process owns, all kinds together. */
export const ownedTotal = (presence: ProcessPresence): number => Object.values(presence.owned).reduce((a, b) => a + b, 0);

/** Who owns an unfinished actor, as `daqflow status` tells it. */
export interface ActorOwner {
  readonly kind: string;
  readonly id: string;
  /** The owning process, when its presence lives. */
  readonly process: string | null;
  readonly node: string | null;
  /** The process the lease still names when that process is gone; null when none ever claimed it. */
  readonly goneOwner: string | null;
}

/**
 * The owners of the given actors, judged against the live processes: an actor whose lease names
 * no live process is unowned, waiting for a process that may take it (docs/architecture.md,
 * "Processes").
 */
export const readOwners = async (
  nc: NatsConnection,
  stream: string,
  actors: ReadonlyArray<{ readonly kind: string; readonly id: string }>,
  live: readonly ProcessPresence[],
): Promise<ActorOwner[]> => {
  if (actors.length === 0) return [];
  let kv: KV;
  try {
    kv = await new Kvm(nc).open(ownershipBuckets(stream).owners);
  } catch (e) {
    if (!/stream not found/i.test(String(e))) throw e;
    return actors.map(({ kind, id }) => ({ kind, id, process: null, node: null, goneOwner: null }));
  }
  const alive = new Map(live.map((p) => [p.process, p]));
  const owners: ActorOwner[] = [];
  for (let at = 0; at < actors.length; at += 16) {
    const batch = actors.slice(at, at + 16);
    const entries = await Promise.all(batch.map(({ kind, id }) => kv.get(`a.${kind}.${id}`)));
    batch.forEach(({ kind, id }, i) => {
      const entry = entries[i];
      let named: string | null = null;
      if (entry?.operation === 'PUT') {
        try {
          named = entry.json<{ process: string }>().process;
        } catch {
          named = null;
        }
      }
      const owner = named === null ? undefined : alive.get(named);
      owners.push({ kind, id, process: owner?.process ?? null, node: owner?.node ?? null, goneOwner: owner === undefined ? named : null });
    });
  }
  return owners;
};
