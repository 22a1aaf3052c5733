import { readFileSync } from 'node:fs';
import { ValidationError } from '../../events/errors.js';

/** The PostgreSQL settings that can stand beside (or in) the connection URL. */
export interface DatabaseSettings {
  readonly databaseUrl?: string;
  readonly databaseSslMode?: string;
  readonly databaseSslRootCert?: string;
  readonly databaseSslCert?: string;
  readonly databaseSslKey?: string;
  readonly databasePasswordFile?: string;
}

const fileParameters = [
  ['sslrootcert', 'DAQFLOW_DATABASE_SSLROOTCERT'],
  ['sslcert', 'DAQFLOW_DATABASE_SSLCERT'],
  ['sslkey', 'DAQFLOW_DATABASE_SSLKEY'],
] as const;

/**
 * The connection URL with the separate settings folded in as the parameters libpq and the pg
 * client read from it (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`) and the password read
 * from its file. A parameter the URL already holds is overridden by its setting. Undefined
 * when no URL is configured (the embedded PostgreSQL).
 */
export const databaseUrlOf = (settings: DatabaseSettings): string | undefined => {
  if (settings.databaseUrl === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(settings.databaseUrl);
  } catch {
    // Not a URL (a socket path or libpq keywords): left for the pg client to read as it is.
    if (Object.keys(settings).some((key) => key !== 'databaseUrl' && settings[key as keyof DatabaseSettings] !== undefined)) {
      throw new ValidationError('databaseUrl (DAQFLOW_DATABASE_URL): the DAQFLOW_DATABASE_* settings need a postgres:// URL to go with');
    }
    return settings.databaseUrl;
  }
  const parameters = {
    sslmode: settings.databaseSslMode,
    sslrootcert: settings.databaseSslRootCert,
    sslcert: settings.databaseSslCert,
    sslkey: settings.databaseSslKey,
  };
  for (const [name, value] of Object.entries(parameters)) if (value !== undefined) url.searchParams.set(name, value);
  // The pg client reads these files only when it connects, and its error names no setting.
  for (const [name, setting] of fileParameters) {
    const file = url.searchParams.get(name);
    if (file === null) continue;
    try {
      readFileSync(file);
    } catch (e) {
      throw new ValidationError(`cannot read ${file} (${setting}, or ${name} in DAQFLOW_DATABASE_URL): ${(e as Error).message}`);
    }
  }
  if (settings.databasePasswordFile !== undefined) {
    let password: string;
    try {
      password = readFileSync(settings.databasePasswordFile, 'utf8').split(/\r?\n/)[0] ?? '';
    } catch (e) {
      throw new ValidationError(`cannot read ${settings.databasePasswordFile} (DAQFLOW_DATABASE_PASSWORD_FILE): ${(e as Error).message}`);
    }
    if (password === '') throw new ValidationError(`${settings.databasePasswordFile} (DAQFLOW_DATABASE_PASSWORD_FILE) is empty`);
    url.password = encodeURIComponent(password);
  }
  return url.toString();
};
