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
