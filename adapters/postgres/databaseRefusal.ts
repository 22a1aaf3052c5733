import { DaqflowError } from '../../events/errors.js';
import { errorChain, refusedClientMessage, untrustedServerCode } from '../tlsRefusal.js';

/** A PostgreSQL setting the server or the client refused: a password, a certificate, the TLS mode. */
export class DatabaseSettingError extends DaqflowError {
  override readonly name = 'DatabaseSettingError';
  constructor(
    readonly setting: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super('VALIDATION_FAILED', message, { setting }, options);
  }
}

const SSLROOTCERT = 'DAQFLOW_DATABASE_SSLROOTCERT';
const SSLCERT = 'DAQFLOW_DATABASE_SSLCERT';
const SSLMODE = 'DAQFLOW_DATABASE_SSLMODE';
const PASSWORD = 'DAQFLOW_DATABASE_PASSWORD_FILE';

// SQLSTATE 28P01 invalid_password, 28000 invalid_authorization_specification (pg_hba.conf said no).
const INVALID_PASSWORD = '28P01';
const NOT_AUTHORIZED = '28000';

const parameterOf = (url: URL, name: string): string =>
  url.searchParams.get(name) !== null ? `${url.searchParams.get(name)}` : 'is not set';

/**
 * The refusal of a setting that a failed connection to `databaseUrl` means (a password, the
 * server's or the client's certificate, TLS), as one sentence naming the DAQFLOW_DATABASE_*
 * setting (the same parameter of the URL does the same); undefined for anything else, such as a
 * server that is not there, which is worth waiting for.
 */
export const databaseRefusal = (e: unknown, databaseUrl: string): DatabaseSettingError | undefined => {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    return undefined;
  }
  const where = `${url.hostname}:${url.port || '5432'}`;
  const user = decodeURIComponent(url.username) || 'the default user';
  const named = (setting: string, value: string): string => (value === 'is not set' ? `${setting} is not set` : `${setting} = ${value}`);
  const chain = errorChain(e);
  const sqlstate = chain.find((c) => c.code === INVALID_PASSWORD || c.code === NOT_AUTHORIZED);
  if (sqlstate?.code === INVALID_PASSWORD) {
    return new DatabaseSettingError(
      PASSWORD,
      `PostgreSQL at ${where} refused the password of ${user} (${PASSWORD}, or the password in DAQFLOW_DATABASE_URL): ${sqlstate.message}`,
      { cause: e },
    );
  }
  if (sqlstate) {
    const certificate = /certificate/i.test(sqlstate.message);
    const setting = certificate ? SSLCERT : /no encryption/i.test(sqlstate.message) ? SSLMODE : 'DAQFLOW_DATABASE_URL';
    const value = certificate ? ` (${named(SSLCERT, parameterOf(url, 'sslcert'))})` : setting === SSLMODE ? ` (${named(SSLMODE, parameterOf(url, 'sslmode'))})` : ` (${setting})`;
    return new DatabaseSettingError(setting, `PostgreSQL at ${where} refused the connection of ${user}${value}: ${sqlstate.message}`, { cause: e });
  }
  const noPassword = chain.find((c) => /client password must be a string/i.test(c.message));
  if (noPassword) {
    return new DatabaseSettingError(
      PASSWORD,
      `PostgreSQL at ${where} asks for the password of ${user} and none was given: set ${PASSWORD}, or put it in DAQFLOW_DATABASE_URL (${noPassword.message})`,
      { cause: e },
    );
  }
  const untrusted = chain.find((c) => typeof c.code === 'string' && untrustedServerCode.test(c.code));
  if (untrusted) {
    return new DatabaseSettingError(
      SSLROOTCERT,
      `the certificate of PostgreSQL at ${where} is not trusted (${named(SSLROOTCERT, parameterOf(url, 'sslrootcert'))}): ${untrusted.message}`,
      { cause: e },
    );
  }
  const refused = chain.find((c) => refusedClientMessage.test(c.message));
  if (refused) {
    return new DatabaseSettingError(
      SSLCERT,
      `PostgreSQL at ${where} refused the client certificate (${named(SSLCERT, parameterOf(url, 'sslcert'))}): ${refused.message}`,
      { cause: e },
    );
  }
  const noTls = chain.find((c) => /does not support SSL/i.test(c.message));
  if (noTls) {
    return new DatabaseSettingError(SSLMODE, `PostgreSQL at ${where} offers no TLS, which ${named(SSLMODE, parameterOf(url, 'sslmode'))} asks for`, { cause: e });
  }
  return undefined;
};
