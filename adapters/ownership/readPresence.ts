import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import type { ProcessPresence } from './leaseManager.js';
import { listKeys } from './listKeys.js';
import { actorKey, ownerIn, ownershipBuckets, parseEntry } from './ownershipBuckets.js';

/** The entries of `keys`, a few requests at a time, in the keys' order. */
const getEntries = async (kv: KV, keys: readonly string[]): Promise<Array<KvEntry | null>> => {
  const entries: Array<KvEntry | null> = [];
  for (let at = 0; at < keys.length; at += 16) entries.push(...(await Promise.all(keys.slice(at, at + 16).map((key) => kv.get(key)))));
  return entries;
};

/**
 * The presence entries of a bucket already open (deleted and unreadable ones left out): the keys
 * from the bucket stream's subjects (listKeys.ts), then each entry, a few at a time.
 */
export const readPresenceEntries = async (jsm: JetStreamManager, kv: KV, bucket: string): Promise<ProcessPresence[]> => {
  const entries = await getEntries(kv, await listKeys(jsm, bucket));
  // Deleted entries and values that are not JSON (not written by daqflow) are left out.
  return entries.flatMap((entry) => (entry?.operation === 'PUT' ? (parseEntry<ProcessPresence>(entry.value) ?? []) : []));
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
  const entries = await getEntries(kv, actors.map(({ kind, id }) => actorKey(kind, id)));
  return actors.map(({ kind, id }, i) => {
    const named = ownerIn(entries[i])?.process ?? null;
    const owner = named === null ? undefined : alive.get(named);
    return { kind, id, process: owner?.process ?? null, node: owner?.node ?? null, goneOwner: owner === undefined ? named : null };
  });
};
