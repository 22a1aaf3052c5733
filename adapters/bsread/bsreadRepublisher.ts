/**
 * Re-publication of the received stream on a ZeroMQ PUB port, as PSI's std_daq buffer service offers
 * its input again: other consumers (a live viewer, a second writer) subscribe to daqflow instead of
 * to the camera server. The parts go out as they came. A subscriber that cannot keep up loses
 * messages (PUB drops at its high-water mark), and so does this queue when the socket is busy for
 * longer than `queueLength` messages: re-publication never slows the receiver down.
 */
import * as zmq from 'zeromq';
import { silentLogger, type Logger } from '../../actors/runtime/logger.js';

export interface BsreadRepublisherCounters {
  readonly address: string;
  readonly sent: number;
  readonly dropped: number;
}

export interface BsreadRepublisher {
  /** The bound endpoint (with the port chosen for `tcp://host:*`); rejects when it cannot be bound. */
  readonly bound: Promise<string>;
  publish(parts: Buffer[]): void;
  counters(): BsreadRepublisherCounters;
  close(): Promise<void>;
}

export const startBsreadRepublisher = (
  address: string,
  options: { queueLength?: number; sendHighWaterMark?: number; logger?: Logger } = {},
): BsreadRepublisher => {
  const logger = options.logger ?? silentLogger;
  const queueLength = options.queueLength ?? 100;
  const socket = new zmq.Publisher({ sendHighWaterMark: options.sendHighWaterMark ?? 100, linger: 0 });
  let bound = address;
  // Messages queue (up to queueLength) until the bind is done; a failed bind drops them all.
  const binding = socket.bind(address).then(
    () => {
      bound = socket.lastEndpoint ?? address;
      logger.info({ address: bound }, 'bsread stream re-published');
      return bound;
    },
    (e: unknown) => {
      logger.error({ err: e, address }, 'bsread re-publication: cannot bind; nothing is re-published');
      throw e;
    },
  );
  binding.catch(() => undefined);
  const queue: Buffer[][] = [];
  let sending = false;
  let sent = 0;
  let dropped = 0;
  let closed = false;

  // zeromq.js allows one send in flight per socket: a loop drains the queue.
  const drain = async (): Promise<void> => {
    sending = true;
    try {
      if (!(await binding.then(() => true, () => false))) {
        dropped += queue.length;
        queue.length = 0;
        return;
      }
      while (queue.length > 0 && !closed) {
        const parts = queue.shift()!;
        try {
          await socket.send(parts);
          sent++;
        } catch (e) {
          if (closed) break;
          dropped++;
          logger.warn({ err: e, address: bound }, 'bsread re-publication: send failed, message dropped');
        }
      }
    } finally {
      sending = false;
    }
  };

  return {
    bound: binding,
    publish: (parts) => {
      if (closed) return;
      if (queue.length >= queueLength) {
        dropped++;
        return;
      }
      queue.push(parts);
      if (!sending) void drain();
    },
    counters: () => ({ address: bound, sent, dropped }),
    close: async () => {
      closed = true;
      queue.length = 0;
      socket.close();
      await Promise.resolve();
    },
  };
};
