import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { databaseUrlOf } from './databaseUrl.js';

const dir = mkdtempSync(join(tmpdir(), 'daqflow-database-url-'));
const file = (name: string, text: string): string => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('databaseUrlOf', () => {
  it('folds the settings into the URL as libpq parameters, over the URL\'s own, and the password file\'s first line', () => {
    const ca = file('ca.pem', 'ca');
    const url = databaseUrlOf({
      databaseUrl: 'postgres://daqflow@db:5432/daqflow?sslmode=disable&application_name=x',
      databaseSslMode: 'verify-full',
      databaseSslRootCert: ca,
      databasePasswordFile: file('password', 'p@ss word\nsecond line\n'),
    });
    const parsed = new URL(url ?? '');
    expect(parsed.searchParams.get('sslmode')).toBe('verify-full');
    expect(parsed.searchParams.get('sslrootcert')).toBe(ca);
    expect(parsed.searchParams.get('application_name')).toBe('x');
    expect(decodeURIComponent(parsed.password)).toBe('p@ss word');
  });

  it('refuses a certificate file it cannot read, naming the setting, whether given apart or in the URL', () => {
    const missing = join(dir, 'no-such.pem');
    expect(() => databaseUrlOf({ databaseUrl: 'postgres://db/daqflow', databaseSslCert: missing })).toThrow(
      `cannot read ${missing} (DAQFLOW_DATABASE_SSLCERT, or sslcert in DAQFLOW_DATABASE_URL): ENOENT`,
    );
    expect(() => databaseUrlOf({ databaseUrl: `postgres://db/daqflow?sslkey=${missing}` })).toThrow(/\(DAQFLOW_DATABASE_SSLKEY, or sslkey in DAQFLOW_DATABASE_URL\)/);
  });

  it('refuses an empty or unreadable password file, naming it', () => {
    const empty = file('empty', '\n');
    expect(() => databaseUrlOf({ databaseUrl: 'postgres://db/daqflow', databasePasswordFile: empty })).toThrow(`${empty} (DAQFLOW_DATABASE_PASSWORD_FILE) is empty`);
    expect(() => databaseUrlOf({ databaseUrl: 'postgres://db/daqflow', databasePasswordFile: dir })).toThrow(/^cannot read .* \(DAQFLOW_DATABASE_PASSWORD_FILE\): EISDIR/);
  });

  it('leaves the embedded default (no URL) alone', () => {
    expect(databaseUrlOf({})).toBeUndefined();
  });
});
