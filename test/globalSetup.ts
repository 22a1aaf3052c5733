import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type RunningPostgres } from '../adapters/embedded/embeddedPostgres.js';
import { startNatsServer, type RunningNatsServer } from '../adapters/embedded/natsServer.js';
import { canConnect } from '../adapters/postgres/canConnect.js';

declare module 'vitest' {
  export interface ProvidedContext {
    natsUrl: string;
    pgAdminUrl: string;
  }
}

/**
 * Starts the servers once per run: a nats-server child of our own (so no spec sees another's
 * streams), and PostgreSQL: $DAQFLOW_TEST_PG_URL, else the machine's server on 127.0.0.1:5432,
 * else an embedded one. Each spec file makes its own database and stream from these.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const scratch = mkdtempSync(join(tmpdir(), 'daqflow-test-'));
  const nats: RunningNatsServer = await startNatsServer({
    storeDir: join(scratch, 'nats'),
    logFile: join(scratch, 'nats.log'),
  });
  let postgres: RunningPostgres | undefined;
  let pgAdminUrl = process.env.DAQFLOW_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  if (!(await canConnect(pgAdminUrl))) {
    postgres = await startEmbeddedPostgres(join(scratch, 'pg'));
    pgAdminUrl = postgres.url;
  }
  project.provide('natsUrl', nats.url);
  project.provide('pgAdminUrl', pgAdminUrl);
  return async () => {
    await nats.stop();
    await postgres?.stop();
    rmSync(scratch, { recursive: true, force: true });
  };
}
