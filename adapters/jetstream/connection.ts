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
