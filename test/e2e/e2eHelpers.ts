import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, inject } from 'vitest';
import { eventSubjectPrefix } from '../../adapters/app/startDaqflow.js';
import { createJetStreamEventStore, type JetStreamEventStore } from '../../adapters/jetstream/index.js';
import type { RecordedEvent } from '../../events/envelope.js';
import { readCheckpoint } from '../../projections/checkpoints.js';
import type { Database } from '../../projections/database.js';
import { DEFAULT_PROJECTOR_NAME } from '../../projections/projector.js';
import { killAllDaqflowProcesses } from '../harness/daqflowProcess.js';
import { createTestDatabase, type TestDatabase } from '../harness/testDatabase.js';
import { uniqueToken } from '../harness/testNames.js';
import { waitFor } from '../harness/waitFor.js';

/** What one request to the daqflow NATS API came back with. */
export type ApiOutcome =
  | { readonly kind: 'ok'; readonly body: Record<string, unknown>; readonly duplicate: boolean }
  | { readonly kind: 'refused'; readonly status: string; readonly body: Record<string, unknown> }
  /** No reply at all: timeout, no responders, connection trouble. */
  | { readonly kind: 'lost'; readonly message: string };

/** Sends a JSON request and classifies the reply by the service error header. */
export const apiRequest = async (
  nc: NatsConnection,
  subject: string,
  body: unknown,
  timeoutMs: number,
): Promise<ApiOutcome> => {
  let msg;
  try {
    msg = await nc.request(subject, JSON.stringify(body), { timeout: timeoutMs });
  } catch (e) {
    return { kind: 'lost', message: e instanceof Error ? e.message : String(e) };
  }
  const text = msg.string();
  const parsed = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
  const status = msg.headers?.get('Nats-Service-Error-Code');
  if (status) return { kind: 'refused', status, body: parsed };
  return { kind: 'ok', body: parsed, duplicate: msg.headers?.get('Daqflow-Duplicate') === 'true' };
};

/** Whether a refusal says to try again (`details.retryable`, as STORE_UNAVAILABLE does). */
export const isRetryable = (body: Record<string, unknown>): boolean =>
  (body.error as { details?: { retryable?: unknown } } | undefined)?.details?.retryable === true;

/**
 * Sends a command until it is answered, with the body's one request id, as docs/api.md asks of a
 * client: a request that times out or is refused as retryable is sent again (`onRetryable` hears
 * each such refusal); any other refusal throws.
 */
export const commandUntilAnswered = (
  nc: NatsConnection,
  subject: string,
  body: Record<string, unknown>,
  timing: { readonly timeoutMs: number; readonly intervalMs: number; readonly requestTimeoutMs: number; readonly onRetryable?: () => void },
): Promise<Record<string, unknown>> =>
  waitFor(
    () => `${subject} ${String(body.requestId)} to be answered`,
    async () => {
      const outcome = await apiRequest(nc, subject, body, timing.requestTimeoutMs);
      if (outcome.kind === 'refused') {
        if (!isRetryable(outcome.body)) throw new Error(`${subject} refused: ${JSON.stringify(outcome)}`);
        timing.onRetryable?.();
        return undefined;
      }
      return outcome.kind === 'ok' ? outcome.body : undefined;
    },
    timing.timeoutMs,
    timing.intervalMs,
  );

/**
 * The first refusal of a status query (`query.list`), polled every 200 ms: what a client sees
 * while the projections' PostgreSQL is away.
 */
export const untilQueryRefused = (nc: NatsConnection, subjectPrefix: string, timeoutMs: number): Promise<Extract<ApiOutcome, { kind: 'refused' }>> =>
  waitFor(
    'a status query refused while PostgreSQL is down',
    async () => {
      const reply = await apiRequest(nc, `${subjectPrefix}.query.list`, { limit: 5 }, 10_000);
      return reply.kind === 'refused' ? reply : undefined;
    },
    timeoutMs,
    200,
  );

/** Runs `work` with the product's own JetStream store on the stream of a daqflow with that subject prefix. */
const withStore = async <T>(
  natsUrl: string,
  stream: string,
  subjectPrefix: string,
  work: (store: JetStreamEventStore) => Promise<T>,
): Promise<T> => {
  const nc = await connect({ servers: natsUrl, name: 'e2e-stream-reader' });
  try {
    return await work(createJetStreamEventStore({ nc, stream, subjectPrefix: eventSubjectPrefix({ subjectPrefix }) }));
  } finally {
    await nc.close();
  }
};

/** Every event of the stream, read with the product's own JetStream reader. */
export const readWholeStream = (natsUrl: string, stream: string, subjectPrefix: string): Promise<RecordedEvent[]> =>
  withStore(natsUrl, stream, subjectPrefix, async (store) => {
    const events: RecordedEvent[] = [];
    for await (const batch of store.readAll({ batchSize: 1_000 })) events.push(...batch);
    return events;
  });

/** The newest position of the stream. */
export const streamLastPosition = (natsUrl: string, stream: string, subjectPrefix: string): Promise<number> =>
  withStore(natsUrl, stream, subjectPrefix, (store) => store.lastPosition());

/** actor_status as the stream says it must be: each actor's newest event. */
export interface FoldedStatus {
  readonly kind: string;
  readonly id: string;
  readonly state: string;
  readonly version: number;
  readonly final: boolean;
  readonly summary: Record<string, unknown>;
}

export const foldStatus = (events: readonly RecordedEvent[]): FoldedStatus[] => {
  const last = new Map<string, RecordedEvent>();
  for (const e of events) {
    const key = `${e.actorKind}\u0000${e.actorId}`;
    const seen = last.get(key);
    if (!seen || seen.version < e.version) last.set(key, e);
  }
  return sortStatus(
    [...last.values()].map((e) => ({
      kind: e.actorKind,
      id: e.actorId,
      state: e.state,
      version: e.version,
      final: e.final,
      summary: e.summary,
    })),
  );
};

/** Each actor's versions are exactly 1..n, each once: no transition lost or doubled. */
export const versionProblems = (events: readonly RecordedEvent[]): string[] => {
  const byActor = new Map<string, number[]>();
  for (const e of events) byActor.set(e.actorId, [...(byActor.get(e.actorId) ?? []), e.version]);
  const problems: string[] = [];
  for (const [id, versions] of byActor) {
    const sorted = [...versions].sort((a, b) => a - b);
    if (sorted.some((v, i) => v !== i + 1)) problems.push(`${id}: versions ${sorted.join(',')}`);
  }
  return problems;
};

/** actor_status as the projector wrote it, in the shape and order of foldStatus. */
export const projectedStatus = async (db: Kysely<Database>): Promise<FoldedStatus[]> =>
  sortStatus(
    (await db.selectFrom('actor_status').select(['kind', 'id', 'state', 'version', 'final', 'summary']).execute()).map((r) => ({
      ...r,
      version: Number(r.version),
    })),
  );

export const sortStatus = <T extends { kind: string; id: string }>(rows: T[]): T[] =>
  rows.sort((a, b) => (a.kind === b.kind ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.kind < b.kind ? -1 : 1));

export { waitFor };

/** Waits until the live projector's checkpoint in `database` is at or past `position`. */
export const waitForProjector = (database: TestDatabase, position: number, timeoutMs: number): Promise<true> =>
  waitFor(
    () => `projection checkpoint ${DEFAULT_PROJECTOR_NAME} to reach ${position}`,
    // At or past: while jobs still append (after the NATS fuzz, one event a second was seen), a
    // projector that keeps up is at `position` only until the next event, which can be over
    // before the first poll. Callers that need the projections to equal the stream check that.
    async () => ((await readCheckpoint(database.db, DEFAULT_PROJECTOR_NAME)) >= position ? true : undefined),
    timeoutMs,
  );

/**
 * A fresh temp folder for DAQFLOW_HOME. World-traversable: as root, the embedded PostgreSQL
 * runs as the `postgres` user and must reach its data folder inside.
 */
export const tempHome = (name: string): string => {
  const dir = mkdtempSync(join(tmpdir(), `daqflow-e2e-${name}-`));
  chmodSync(dir, 0o755);
  return dir;
};

/** What one daqflow of a spec has to itself: a database, a JetStream stream and a subject prefix. */
export interface DaqflowEnvironment {
  /** The token in the stream and prefix names. */
  readonly token: string;
  readonly stream: string;
  readonly prefix: string;
  readonly database: TestDatabase;
  /** The DAQFLOW_* variables that point a daqflow (or a CLI command) at all of it. */
  readonly env: Record<string, string>;
}

/**
 * The e2e environment of a spec file: a temp DAQFLOW_HOME (`name` in its folder name) made
 * before all tests, and `create()` for each daqflow environment in it. After all tests every
 * daqflow process is killed, the databases are dropped and the home is removed. Call it before
 * the file's own hooks, so that their cleanup runs first.
 */
export const useE2eEnvironments = (
  name: string,
): { readonly home: string; create(token?: string): Promise<DaqflowEnvironment> } => {
  let home: string | undefined;
  const databases: TestDatabase[] = [];
  const currentHome = (): string => {
    if (home === undefined) throw new Error('the e2e home exists only in hooks and tests, after beforeAll');
    return home;
  };
  beforeAll(() => {
    home = tempHome(name);
  });
  afterAll(async () => {
    await killAllDaqflowProcesses();
    for (const database of databases.splice(0)) await database.drop();
    if (home) rmSync(home, { recursive: true, force: true });
  });
  return {
    get home() {
      return currentHome();
    },
    create: async (token = uniqueToken()) => {
      const database = await createTestDatabase();
      databases.push(database);
      const stream = `T_${token}`;
      const prefix = `t_${token}`;
      return {
        token,
        stream,
        prefix,
        database,
        env: {
          DAQFLOW_NATS_URL: inject('natsUrl'),
          DAQFLOW_DATABASE_URL: database.url,
          DAQFLOW_HOME: currentHome(),
          DAQFLOW_STREAM: stream,
          DAQFLOW_SUBJECT_PREFIX: prefix,
          DAQFLOW_LOG_LEVEL: 'warn',
          // Grab windows end at "last midnight": pinned so that file names do not depend on the machine.
          DAQFLOW_TIMEZONE: 'UTC',
        },
      };
    },
  };
};

/** Runs `work` over `items` with at most `concurrency` at a time, results in input order. */
export const mapConcurrent = async <T, R>(items: readonly T[], concurrency: number, work: (item: T) => Promise<R>): Promise<R[]> => {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) results[i] = await work(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
};
