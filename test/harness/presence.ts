import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { listKeys } from '../../adapters/ownership/listKeys.js';
import { ownershipBuckets } from '../../adapters/ownership/ownershipBuckets.js';
import type { ProcessPresence } from '../../adapters/ownership/leaseManager.js';

/** The presence entries of the daqflow processes on a stream, as `daqflow status` reads them. */
export const readPresence = async (natsUrl: string, stream: string): Promise<ProcessPresence[]> => {
  const nc = await connect({ servers: natsUrl, name: 'presence-reader' });
  try {
    const bucket = ownershipBuckets(stream).processes;
    const kv = await new Kvm(nc).open(bucket);
    const keys = await listKeys(await jetstreamManager(nc), bucket);
    const found: ProcessPresence[] = [];
    for (const key of keys) {
      const entry = await kv.get(key);
      if (entry?.operation === 'PUT') found.push(entry.json<ProcessPresence>());
    }
    return found;
  } finally {
    await nc.close();
  }
};

/** Unfinished actors a presence entry says its process owns, all kinds together. */
export const ownedTotal = (presence: ProcessPresence): number => Object.values(presence.owned).reduce((a, b) => a + b, 0);
