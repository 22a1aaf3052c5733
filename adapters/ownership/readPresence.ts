import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import type { ProcessPresence } from './leaseManager.js';
import { listKeys } from './listKeys.js';
import { ownershipBuckets } from './ownershipBuckets.js';

/**
 * The live daqflow processes of a stream, from their presence entries (none when no process with
 * leases has run against it yet), ordered by node then start time.
 */
export const readPresence = async (nc: NatsConnection, stream: string): Promise<ProcessPresence[]> => {
  const bucket = ownershipBuckets(stream).processes;
  const jsm = await jetstreamManager(nc);
  const keys = await listKeys(jsm, bucket).catch((e: unknown) => {
    if (/stream not found/i.test(String(e))) return [];
    throw e;
  });
  if (keys.length === 0) return [];
  const kv = await new Kvm(nc).open(bucket);
  const found: ProcessPresence[] = [];
  for (const key of keys) {
    const entry = await kv.get(key);
    if (entry?.operation === 'PUT') found.push(entry.json<ProcessPresence>());
  }
  return found.sort((a, b) => a.node.localeCompare(b.node) || a.startedAt.localeCompare(b.startedAt));
};

/** Unfinished actors a presence entry says its process owns, all kinds together. */
export const ownedTotal = (presence: ProcessPresence): number => Object.values(presence.owned).reduce((a, b) => a + b, 0);
