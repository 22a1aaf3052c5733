import { connect, type NatsConnection } from '@nats-io/transport-node';
import { StoreUnavailableError } from '../../events/errors.js';

export interface ConnectNatsOptions {
  /** Connection name shown by the server (default daqflow). */
  readonly name?: string;
  /** How long the first connection attempt may take, in ms (default 5000). */
  readonly timeoutMs?: number;
}

/** Connects to NATS at `url`; a server that cannot be reached fails with StoreUnavailableError. */
export const connectNats = async (
  url: string,
  nameOrOptions: string | ConnectNatsOptions = {},
): Promise<NatsConnection> => {
  const options = typeof nameOrOptions === 'string' ? { name: nameOrOptions } : nameOrOptions;
  try {
    return await connect({
      servers: url,
      name: options.name ?? 'daqflow',
      timeout: options.timeoutMs ?? 5_000,
      // The client otherwise captures a stack trace for every request it sends, most of its CPU
      // per append; our errors carry their own context.
      noAsyncTraces: true,
      // Once connected, a restarting server must not end the process's connection for good:
      // operations fail with StoreUnavailableError meanwhile and work again after it is back.
      maxReconnectAttempts: -1,
    });
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    throw new StoreUnavailableError(`cannot connect to NATS at ${url}: ${detail}`, { cause: e });
  }
};

/**
 * Closes a connection for good: drains it (subscriptions finish what they hold, publishes are
 * flushed) when the server is there, and closes it at once when it is not or the drain takes
 * longer than `timeoutMs`. Without the close, a client that lost its server keeps reconnecting
 * (maxReconnectAttempts -1) and keeps the process alive.
 */
export const closeNats = async (nc: NatsConnection, timeoutMs = 2_000): Promise<void> => {
  if (nc.isClosed()) return;
  let timer: NodeJS.Timeout | undefined;
  try {
    const drained = nc.isDraining() ? nc.closed().then(() => undefined) : nc.drain();
    await Promise.race([
      drained,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`drain took longer than ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch {
    // Disconnected or slow: nothing more can be flushed; stop reconnecting.
  } finally {
    clearTimeout(timer);
    if (!nc.isClosed()) await nc.close().catch(() => undefined);
  }
};
