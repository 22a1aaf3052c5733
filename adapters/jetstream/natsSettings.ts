import { readFileSync } from 'node:fs';
import { fromSeed } from '@nats-io/nkeys';
import {
  credsAuthenticator,
  nkeyAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
  type Authenticator,
} from '@nats-io/nats-core';
import { natsSettingNames, NatsSettingError, type NatsSetting } from './errors.js';

/**
 * Where and how to connect to NATS, named as the `nats` CLI names them: one server URL or
 * several separated by commas, at most one way of logging in, and TLS.
 */
export interface NatsSettings {
  readonly servers: string;
  readonly user?: string;
  readonly password?: string;
  readonly token?: string;
  /** File holding an nkey seed. */
  readonly nkey?: string;
  /** `.creds` file: a user JWT and its nkey seed. */
  readonly creds?: string;
  readonly tlsCa?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly tlsRequired?: boolean;
}

/** The settings of a configuration, for the server at `servers` (the configured or embedded one). */
export const natsSettingsOf = (
  config: {
    readonly natsUrl?: string;
    readonly natsUser?: string;
    readonly natsPassword?: string;
    readonly natsToken?: string;
    readonly natsNkey?: string;
    readonly natsCreds?: string;
    readonly natsTlsCa?: string;
    readonly natsTlsCert?: string;
    readonly natsTlsKey?: string;
    readonly natsTlsRequired?: boolean;
  },
  servers: string,
): NatsSettings => {
  // The embedded server takes no login; the configuration refuses login settings without a URL.
  if (config.natsUrl === undefined || servers !== config.natsUrl) return { servers };
  const optional = {
    user: config.natsUser,
    password: config.natsPassword,
    token: config.natsToken,
    nkey: config.natsNkey,
    creds: config.natsCreds,
    tlsCa: config.natsTlsCa,
    tlsCert: config.natsTlsCert,
    tlsKey: config.natsTlsKey,
    tlsRequired: config.natsTlsRequired || undefined,
  };
  return { servers, ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)) };
};

/** The server URLs of the settings. */
export const serverList = (settings: NatsSettings): string[] =>
  settings.servers
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');

const readSetting = (setting: NatsSetting, path: string): Buffer => {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new NatsSettingError(setting, `cannot read ${path} (${natsSettingNames[setting]}): ${(e as Error).message}`, { cause: e });
  }
};

const jwtOfCreds = (text: string): string | undefined =>
  /-----BEGIN NATS USER JWT-----\s*([A-Za-z0-9_.-]+)\s*------END NATS USER JWT------/.exec(text)?.[1];

const claimsOf = (jwt: string): { name?: string; sub?: string; exp?: number } => {
  try {
    return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { name?: string; sub?: string; exp?: number };
  } catch {
    return {};
  }
};

/** What the client hands the server: the authenticator, the TLS material, and who logs in (for messages). */
export interface NatsLogin {
  readonly authenticator?: Authenticator;
  readonly tls?: { ca?: string; cert?: string; key?: string } | undefined;
  /** The setting the login is about, when there is one. */
  readonly setting?: NatsSetting;
  /** The user as messages name it: a user name, the name in a JWT, an nkey's public key. */
  readonly who: string;
}

/**
 * Reads the files the settings name and checks them before the server sees them, so that an
 * unreadable or expired file is reported as such rather than as a refused login.
 */
export const natsLogin = (settings: NatsSettings, now = new Date()): NatsLogin => {
  const tlsFiles = {
    ...(settings.tlsCa ? { ca: readSetting('tlsCa', settings.tlsCa).toString('utf8') } : {}),
    ...(settings.tlsCert ? { cert: readSetting('tlsCert', settings.tlsCert).toString('utf8') } : {}),
    ...(settings.tlsKey ? { key: readSetting('tlsKey', settings.tlsKey).toString('utf8') } : {}),
  };
  const tls = Object.keys(tlsFiles).length > 0 || settings.tlsRequired ? tlsFiles : undefined;
  if (settings.creds) {
    const bytes = readSetting('creds', settings.creds);
    const text = bytes.toString('utf8');
    const jwt = jwtOfCreds(text);
    if (!jwt || !/-----BEGIN USER NKEY SEED-----/.test(text)) {
      throw new NatsSettingError('creds', `${settings.creds} (${natsSettingNames.creds}) is not a .creds file: it needs a user JWT and an nkey seed`);
    }
    const claims = claimsOf(jwt);
    if (claims.exp !== undefined && claims.exp * 1_000 <= now.getTime()) {
      throw new NatsSettingError(
        'creds',
        `the credentials in ${settings.creds} (${natsSettingNames.creds}) expired at ${new Date(claims.exp * 1_000).toISOString()}`,
      );
    }
    return { authenticator: credsAuthenticator(bytes), tls, setting: 'creds', who: claims.name ?? claims.sub ?? settings.creds };
  }
  if (settings.nkey) {
    const seed = readSetting('nkey', settings.nkey).toString('utf8').trim();
    let publicKey: string;
    try {
      publicKey = fromSeed(new TextEncoder().encode(seed)).getPublicKey();
    } catch (e) {
      throw new NatsSettingError('nkey', `${settings.nkey} (${natsSettingNames.nkey}) holds no nkey seed: ${(e as Error).message}`, { cause: e });
    }
    return { authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)), tls, setting: 'nkey', who: publicKey };
  }
  if (settings.token) return { authenticator: tokenAuthenticator(settings.token), tls, setting: 'token', who: '(token)' };
  if (settings.user) {
    return { authenticator: usernamePasswordAuthenticator(settings.user, settings.password), tls, setting: 'user', who: settings.user };
  }
  return { tls, who: '(no login)' };
};
