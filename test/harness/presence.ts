import { connect } from '@nats-io/transport-node';
import type { ProcessPresence } from '../../adapters/ownership/leaseManager.js';
import { readPresence as readPresenceOn } from '../../adapters/ownership/readPresence.js';

export { ownedTotal } from '../../adapters/ownership/readPresence.js';

/** The presence entries of the daqflow processes on a stream, as `daqflow status` reads them. */
export const readPresence = async (natsUrl: string, stream: string): Promise<ProcessPresence[]> => {
  const nc = await connect({ servers: natsUrl, name: 'presence-reader' });
  try {
    return await readPresenceOn(nc, stream);
  } finally {
    await nc.close();
  }
};
