import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killAllDaqflowProcesses, runCli, showResult, startDaqflowProcess } from '../harness/daqflowProcess.js';
import { startSecuredPostgres, type SecuredPostgres } from '../harness/securedPostgres.js';
import { makeCertificates, type TestCertificates } from '../harness/testCertificates.js';
import { useE2eEnvironments, waitFor, type DaqflowEnvironment } from './e2eHelpers.js';

/*
 * daqflow against a PostgreSQL that takes TLS connections only (the test's CA signed its
 * certificate for 127.0.0.1): a password user (SCRAM) whose password comes from a file, and a user
 * who logs in with a client certificate. Each way of logging in runs through the settings of
 * docs/deployment.md; each wrong one fails at start with one line naming the setting.
 */

const e2e = useE2eEnvironments('secured-pg');
let dir: string;
let certs: TestCertificates;
let postgres: SecuredPostgres;
let environment: DaqflowEnvironment;
let passwordFile: string;
let wrongPasswordFile: string;

beforeAll(async () => {
  dir = join(e2e.home, 'secured-pg');
  mkdirSync(dir, { recursive: true });
  certs = makeCertificates(dir);
  postgres = await startSecuredPostgres(certs);
  environment = await e2e.create();
  passwordFile = join(dir, 'db-password');
  writeFileSync(passwordFile, `${postgres.passwordUser.password}\n`, { mode: 0o600 });
  wrongPasswordFile = join(dir, 'wrong-password');
  writeFileSync(wrongPasswordFile, 'not-the-password\n', { mode: 0o600 });
}, 120_000);

afterEach(async () => {
  await killAllDaqflowProcesses();
});

afterAll(async () => {
  await postgres?.destroy();
});

/** The spec's NATS stream and home, with the database settings `database`. */
const on = (database: Record<string, string>): Record<string, string> => {
  const { DAQFLOW_DATABASE_URL: _shared, ...rest } = environment.env;
  return { ...rest, DAQFLOW_DATA_ROOT: join(e2e.home, 'data'), ...database };
};

/** The password user over verify-full TLS, its password from the file. */
const passwordLogin = (): Record<string, string> => ({
  DAQFLOW_DATABASE_URL: postgres.urlFor(postgres.passwordUser.name),
  DAQFLOW_DATABASE_SSLMODE: 'verify-full',
  DAQFLOW_DATABASE_SSLROOTCERT: certs.ca,
  DAQFLOW_DATABASE_PASSWORD_FILE: passwordFile,
});

/** The certificate user, everything in the URL's parameters as libpq takes them. */
const certificateUrl = (cert = certs.clientCert, key = certs.clientKey): string =>
  `${postgres.urlFor(postgres.certificateUser)}?sslmode=verify-full&sslrootcert=${certs.ca}&sslcert=${cert}&sslkey=${key}`;

interface SslRow {
  readonly ssl: boolean;
  readonly version: string | null;
}

describe('each way of logging in to PostgreSQL', () => {
  it('verify-full against the CA, the password from DAQFLOW_DATABASE_PASSWORD_FILE: daqflow up runs the demo, every connection encrypted', async () => {
    const env = on(passwordLogin());
    const up = await startDaqflowProcess({ env });
    const args = ['demo', '--steps', '2', '--interval-ms', '50'];
    const demo = await runCli(args, env, 90_000);
    expect(demo.code, showResult(args, demo)).toBe(0);
    expect(demo.stdout, showResult(args, demo)).toMatch(/report \S+ completed/);
    // The tools read the projections with the same settings.
    const status = await runCli(['status'], env);
    expect(status.code, showResult(['status'], status)).toBe(0);
    expect(status.stdout, showResult(['status'], status)).toMatch(/completed/);
    const connections = await waitFor(
      'daqflow up to hold connections to PostgreSQL',
      async () => {
        const rows = await postgres.query<SslRow>(
          'postgres',
          `select s.ssl, s.version from pg_stat_ssl s join pg_stat_activity a using (pid) where a.usename = '${postgres.passwordUser.name}'`,
        );
        return rows.length > 0 ? rows : undefined;
      },
      10_000,
    );
    expect(connections.every((c) => c.ssl && /^TLSv1\.[23]$/.test(c.version ?? '')), JSON.stringify(connections)).toBe(true);
    up.kill('SIGTERM');
    expect((await up.exited).code, up.stderr()).toBe(0);
  }, 150_000);

  it('a client certificate alone, sslmode, sslrootcert, sslcert and sslkey in the URL', async () => {
    const env = on({ DAQFLOW_DATABASE_URL: certificateUrl() });
    const migrate = await runCli(['migrate'], env);
    expect(migrate.code, showResult(['migrate'], migrate)).toBe(0);
    const owners = await postgres.query<{ tableowner: string }>(postgres.certificateUser, `select distinct tableowner from pg_tables where schemaname = 'public'`);
    expect(owners).toEqual([{ tableowner: postgres.certificateUser }]);
    const status = await runCli(['status'], env);
    expect(status.code, showResult(['status'], status)).toBe(0);
  }, 60_000);

  it("the password from PGPASSFILE, libpq's password file, when no other is given", async () => {
    const pgpass = join(dir, 'pgpass');
    writeFileSync(pgpass, `127.0.0.1:${postgres.port}:*:${postgres.passwordUser.name}:${postgres.passwordUser.password}\n`, { mode: 0o600 });
    const { DAQFLOW_DATABASE_PASSWORD_FILE: _file, ...login } = passwordLogin();
    const migrate = await runCli(['migrate'], on({ ...login, PGPASSFILE: pgpass }));
    expect(migrate.code, showResult(['migrate'], migrate)).toBe(0);
  }, 60_000);
});

describe('a wrong PostgreSQL setting fails at start with one line naming it', () => {
  const cases = [
    {
      name: 'a CA that did not sign the server certificate',
      env: () => on({ ...passwordLogin(), DAQFLOW_DATABASE_SSLROOTCERT: certs.rogueCa }),
      message: /^daqflow: the certificate of PostgreSQL at 127\.0\.0\.1:\d+ is not trusted \(DAQFLOW_DATABASE_SSLROOTCERT = \S+rogue-ca\.pem\): self-signed certificate in certificate chain$/m,
    },
    {
      name: 'a wrong password in the password file',
      env: () => on({ ...passwordLogin(), DAQFLOW_DATABASE_PASSWORD_FILE: wrongPasswordFile }),
      message: /^daqflow: PostgreSQL at 127\.0\.0\.1:\d+ refused the password of daqflow_app \(DAQFLOW_DATABASE_PASSWORD_FILE, or the password in DAQFLOW_DATABASE_URL\): password authentication failed for user "daqflow_app"$/m,
    },
    {
      name: 'no password at all',
      env: () => {
        const { DAQFLOW_DATABASE_PASSWORD_FILE: _file, ...login } = passwordLogin();
        return on({ ...login, PGPASSFILE: join(dir, 'no-such-pgpass') });
      },
      message: /^daqflow: PostgreSQL at 127\.0\.0\.1:\d+ asks for the password of daqflow_app and none was given: set DAQFLOW_DATABASE_PASSWORD_FILE/m,
    },
    {
      name: 'TLS turned off against a server that wants it',
      env: () => on({ ...passwordLogin(), DAQFLOW_DATABASE_SSLMODE: 'disable' }),
      message: /^daqflow: PostgreSQL at 127\.0\.0\.1:\d+ refused the connection of daqflow_app \(DAQFLOW_DATABASE_SSLMODE = disable\): .*no encryption$/m,
    },
    {
      name: 'a CA file that cannot be read',
      env: () => on({ ...passwordLogin(), DAQFLOW_DATABASE_SSLROOTCERT: join(dir, 'no-such-ca.pem') }),
      message: /^daqflow: cannot read \S+no-such-ca\.pem \(DAQFLOW_DATABASE_SSLROOTCERT, or sslrootcert in DAQFLOW_DATABASE_URL\): ENOENT/m,
    },
    {
      name: 'a client certificate of another CA',
      env: () => on({ DAQFLOW_DATABASE_URL: certificateUrl(certs.rogueCert, certs.rogueKey) }),
      message: /^daqflow: PostgreSQL at 127\.0\.0\.1:\d+ refused the client certificate \(DAQFLOW_DATABASE_SSLCERT = \S+rogue\.pem\)/m,
    },
  ];
  // One `daqflow up` per case, all at once: each is refused before it reaches NATS.
  it('a foreign CA, a wrong password, no password, TLS off, an unreadable CA file, a foreign client certificate', async () => {
    const results = await Promise.all(
      cases.map(async (c, i) => {
        // A home each: two `up` in one home refuse each other.
        const env = { ...c.env(), DAQFLOW_HOME: join(e2e.home, `refused-${i}`) };
        const started = Date.now();
        return { ...c, result: await runCli(['up'], env, 45_000), ms: Date.now() - started };
      }),
    );
    // Every case's outcome in one failure message, not only the first that is wrong.
    const wrong = results
      .filter(({ message, result }) => result.code === 0 || result.code === null || !message.test(result.stderr) || /^\s+at /m.test(result.stderr))
      .map(({ name, result, ms }) => `${name} (${ms} ms)\n${showResult(['up'], result)}`);
    expect(wrong.join('\n\n')).toBe('');
  }, 60_000);
});
