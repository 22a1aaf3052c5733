import type { NatsConnection } from '@nats-io/nats-core';
import type { OutageLog } from '../app/outageLog.js';

/**
 * Tells `outage` when the NATS connection is lost and when the client has reconnected. The
 * client reconnects by itself (connectNats); this only makes the outage visible, once.
 */
export const watchConnection = (nc: NatsConnection, outage: OutageLog): void => {
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') outage.down(new Error(`disconnected from ${status.server}`));
      else if (status.type === 'reconnect') outage.up();
    }
  })().catch(() => undefined);
};
