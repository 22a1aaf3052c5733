import { AuthorizationError, UserAuthenticationExpiredError } from '@nats-io/nats-core';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { StoreUnavailableError, type DaqflowError } from '../../events/errors.js';
import { errorChain, refusedClientMessage, untrustedServerCode } from '../tlsRefusal.js';
import { withTimeout } from '../withTimeout.js';
import { natsSettingNames, NatsSettingError } from './errors.js';
import { natsLogin, serverList, type NatsLogin, type NatsSettings } from './natsSettings.js';

export interface ConnectNatsOptions {
  /** Connection name shown by the server (default daqflow). */
  readonly name?: string;
  /** How long the first connection attempt may take, in ms (default 5000). */
  readonly timeoutMs?: number;
}

/** Who logs in on a connection, as messages name it (see natsLogin). */
const users = new WeakMap<NatsConnection, string>();

/** The user a connection logged in as, for messages. */
export const natsUserOf = (nc: NatsConnection): string => users.get(nc) ?? '(no login)';

/** The refusal of a setting that a failed connection means, or undefined when it is not one. */
const settingRefusal = (e: unknown, where: string, login: NatsLogin, settings: NatsSettings): DaqflowError | undefined => {
  const detail = e instanceof Error ? e.message : String(e);
  if (e instanceof UserAuthenticationExpiredError || e instanceof AuthorizationError) {
    if (!login.setting) {
      return new NatsSettingError(
        'user',
        `NATS at ${where} wants a login (${detail}): set DAQFLOW_NATS_USER and DAQFLOW_NATS_PASSWORD, DAQFLOW_NATS_TOKEN, DAQFLOW_NATS_NKEY or DAQFLOW_NATS_CREDS`,
        { cause: e },
      );
    }
    const expired = e instanceof UserAuthenticationExpiredError ? ' (expired)' : '';
    return new NatsSettingError(
      login.setting,
      `NATS at ${where} refused the login of ${login.who}${expired} (${natsSettingNames[login.setting]}): ${detail}`,
      { cause: e },
    );
  }
  const chain = errorChain(e);
  const untrusted = chain.find((c) => typeof c.code === 'string' && untrustedServerCode.test(c.code));
  if (untrusted) {
    return new NatsSettingError(
      'tlsCa',
      `the certificate of NATS at ${where} is not trusted (${natsSettingNames.tlsCa}${settings.tlsCa ? ` = ${settings.tlsCa}` : ' is not set'}): ${untrusted.message}`,
      { cause: e },
    );
  }
  const refused = chain.find((c) => refusedClientMessage.test(c.message));
  if (refused) {
    return new NatsSettingError(
      'tlsCert',
      `NATS at ${where} refused the client certificate (${natsSettingNames.tlsCert}${settings.tlsCert ? ` = ${settings.tlsCert}` : ' is not set'}): ${refused.message}`,
      { cause: e },
    );
  }
  // Under TLS 1.3 the server verifies a client certificate after the client's handshake is done,
  // and the client sees its refusal only as a connection that never completes.
  if (settings.tlsCert && /timeout/i.test(detail)) {
    return new NatsSettingError(
      'tlsCert',
      `NATS at ${where} did not complete the connection (${detail}); with a client certificate (${natsSettingNames.tlsCert} = ${settings.tlsCert}) this is how a server that refuses it answers: check that a CA the server trusts signed it`,
      { cause: e },
    );
  }
  if (/tls.*not available/i.test(detail)) {
    return new NatsSettingError('tlsRequired', `NATS at ${where} offers no TLS, which ${natsSettingNames.tlsRequired} asks for`, { cause: e });
  }
  return undefined;
};

/**
 * Connects to NATS with the settings (or just a URL); a server that cannot be reached fails
 * with StoreUnavailableError, a setting the server or the client refuses (a login, a file, a
 * certificate) with NatsSettingError naming it.
 */
export const connectNats = async (
  target: string | NatsSettings,
  nameOrOptions: string | ConnectNatsOptions = {},
): Promise<NatsConnection> => {
  const options = typeof nameOrOptions === 'string' ? { name: nameOrOptions } : nameOrOptions;
  const settings = typeof target === 'string' ? { servers: target } : target;
  const servers = serverList(settings);
  const url = servers.join(',');
  const login = natsLogin(settings);
  try {
    const nc = await connect({
      servers,
      ...(login.authenticator ? { authenticator: login.authenticator } : {}),
      ...(login.tls ? { tls: login.tls } : {}),
      name: options.name ?? 'daqflow',
      timeout: options.timeoutMs ?? 5_000,
      // The client otherwise captures a stack trace for every request it sends, most of its CPU
      // per append; our errors carry their own context.
      noAsyncTraces: true,
      // Once connected, a restarting server must not end the process's connection for good:
      // operations fail with StoreUnavailableError meanwhile and work again after it is back.
      maxReconnectAttempts: -1,
    });
    users.set(nc, login.who);
    return nc;
  } catch (e) {
    const refusal = settingRefusal(e, url, login, settings);
    if (refusal) throw refusal;
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
  try {
    await withTimeout(nc.isDraining() ? nc.closed().then(() => undefined) : nc.drain(), timeoutMs, 'drain');
  } catch {
    // Disconnected or slow: nothing more can be flushed; stop reconnecting.
  } finally {
    if (!nc.isClosed()) await nc.close().catch(() => undefined);
  }
};
