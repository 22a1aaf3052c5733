import { sql } from 'kysely';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { InMemoryEventStore, type EventStore } from '../events/index.js';
import { createDb } from '../adapters/postgres/createDb.js';
import { appendDemoHistories } from '../test/harness/demoEvents.js';
import { useTestDatabase } from '../test/harness/testDatabase.js';
import { readCheckpoint, setCheckpoint, storeCheckpoint } from './checkpoints.js';
import { startProjector, type BatchReport, type Projector, type ProjectorLogger } from './projector.js';
import { allProjections } from '../adapters/jobs/registry.js';

const actorIds = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

const silentLogger = (): ProjectorLogger & { errors: unknown[] } => {
  const errors: unknown[] = [];
  return { errors, info: () => undefined, warn: () => undefined, error: (obj) => errors.push(obj) };
};

const until = async (condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('startProjector', () => {
  const t = useTestDatabase();
  let store: InMemoryEventStore;
  const running: Projector[] = [];
  const start = (options: Partial<Parameters<typeof startProjector>[0]> = {}): Projector => {
    const projector = startProjector({
      db: t.db,
      store,
      projections: allProjections,
      logger: silentLogger(),
      ...options,
    });
    running.push(projector);
    return projector;
  };
  /** Checkpoint, transition count and newest transition in one statement, hence one snapshot. */
  const snapshot = async (name = 'daqflow-projector') => {
    const { rows } = await sql<{ checkpoint: number | null; transitions: number; newest: number | null }>`
      select (select position from projection_checkpoint where name = ${name}) as checkpoint,
             (select count(*) from actor_transition) as transitions,
             (select max(position) from actor_transition) as newest
    `.execute(t.db);
    return rows[0]!;
  };
  const statusVersions = async (): Promise<Record<string, number>> =>
    Object.fromEntries(
      (await t.db.selectFrom('actor_status').select(['id', 'version']).execute()).map((r) => [r.id, r.version]),
    );

  afterAll(async () => {
    await Promise.all(running.map((p) => p.stop()));
  });
  beforeEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop()));
    await sql`truncate actor_status, actor_transition, projection_checkpoint`.execute(t.db);
    store = new InMemoryEventStore();
  });

  it('projects appended events; the checkpoint always matches the rows beside it', async () => {
    const acks: number[] = [];
    const tracked: EventStore = Object.assign(Object.create(store) as EventStore, {
      subscribe: (from: number, options?: { durable?: string; batchSize?: number }) => {
        const sub = store.subscribe(from, options);
        return {
          ack: (p: number) => {
            acks.push(p);
            sub.ack(p);
          },
          close: () => sub.close(),
          [Symbol.asyncIterator]: () => sub[Symbol.asyncIterator](),
        };
      },
    });
    const projector = start({ store: tracked, batchSize: 20 });
    const ids = actorIds('a', 20);
    let checks = 0;
    let appending = true;
    const checking = (async () => {
      while (appending || projector.position() < 400) {
        const s = await snapshot();
        // Positions start at 1 without holes, so the checkpoint must equal both.
        expect(s.transitions).toBe(s.checkpoint ?? 0);
        expect(s.newest).toBe(s.checkpoint);
        checks += 1;
      }
    })();
    await appendDemoHistories(store, ids, 10);
    await appendDemoHistories(store, actorIds('b', 20), 10);
    appending = false;
    await projector.caughtUp(400);
    await checking;

    expect(checks).toBeGreaterThan(3);
    expect(await snapshot()).toEqual({ checkpoint: 400, transitions: 400, newest: 400 });
    expect(await readCheckpoint(t.db, 'daqflow-projector')).toBe(400);
    expect(projector.position()).toBe(400);
    expect(Object.values(await statusVersions())).toEqual(Array(40).fill(10));
    expect(acks.at(-1)).toBe(400);
    expect(acks).toEqual([...acks].sort((a, b) => a - b));
  });

  it('stopped mid-way and restarted: nothing lost, nothing applied twice', async () => {
    const ids = actorIds('s', 50);
    await appendDemoHistories(store, ids, 20);
    const reports: BatchReport[] = [];
    const first = start({ batchSize: 25, onBatch: (r) => reports.push(r) });
    await first.caughtUp(300);
    await first.stop();
    const stoppedAt = first.position();
    expect(stoppedAt).toBeGreaterThanOrEqual(300);
    expect(stoppedAt).toBeLessThan(1_000);
    expect(await snapshot()).toEqual({ checkpoint: stoppedAt, transitions: stoppedAt, newest: stoppedAt });
    await expect(first.caughtUp(1_000)).rejects.toThrow(/stopped/);

    await appendDemoHistories(store, ids, 24, { from: 21 });
    const second = start({ batchSize: 25, onBatch: (r) => reports.push(r) });
    await second.caughtUp(1_200);

    expect(reports.reduce((sum, r) => sum + r.applied, 0)).toBe(1_200);
    // Every batch starts right after the previous one's checkpoint: no gap, no overlap.
    reports.forEach((r, i) => expect(r.from).toBe(i === 0 ? 1 : reports[i - 1]!.position + 1));
    expect(await snapshot()).toEqual({ checkpoint: 1_200, transitions: 1_200, newest: 1_200 });
    expect(Object.values(await statusVersions())).toEqual(Array(50).fill(24));
  });

  it('retries a batch whose transaction failed, with nothing half-applied meanwhile', async () => {
    const logger = silentLogger();
    const projector = start({ batchSize: 30, logger, maxBackoffMs: 200 });
    const ids = actorIds('f', 10);
    await appendDemoHistories(store, ids, 10);
    await projector.caughtUp(100);

    await sql`alter table actor_transition rename to actor_transition_away`.execute(t.db);
    await appendDemoHistories(store, ids, 15, { from: 11 });
    await until(() => logger.errors.length >= 2);
    // actor_status is applied before actor_transition in the same transaction: still at v10.
    expect(Object.values(await statusVersions())).toEqual(Array(10).fill(10));
    expect(await readCheckpoint(t.db, 'daqflow-projector')).toBe(100);
    expect(projector.position()).toBe(100);
    expect(logger.errors[0]).toMatchObject({ name: 'daqflow-projector', position: 100, attempt: 1 });

    await sql`alter table actor_transition_away rename to actor_transition`.execute(t.db);
    await projector.caughtUp(150);
    expect(await snapshot()).toEqual({ checkpoint: 150, transitions: 150, newest: 150 });
    expect(Object.values(await statusVersions())).toEqual(Array(10).fill(15));
  });

  it('retries after a lock timeout while another session holds the table', async () => {
    const database = new URL(t.url).pathname.slice(1);
    await sql`alter database ${sql.id(database)} set lock_timeout = '100ms'`.execute(t.db);
    // A pool of its own: only connections opened after the ALTER get the timeout.
    const projectorDb = createDb(t.url, { max: 2 });
    try {
      const logger = silentLogger();
      const projector = start({ db: projectorDb, batchSize: 30, logger, maxBackoffMs: 100 });
      const ids = actorIds('l', 5);
      await appendDemoHistories(store, ids, 4);
      await projector.caughtUp(20);
      await t.db.connection().execute(async (conn) => {
        await sql`begin`.execute(conn);
        await sql`lock table actor_status in exclusive mode`.execute(conn);
        await appendDemoHistories(store, ids, 8, { from: 5 });
        await until(() => logger.errors.length >= 2);
        expect(logger.errors[0]).toMatchObject({ err: { code: '55P03' } });
        expect(await readCheckpoint(conn, 'daqflow-projector')).toBe(20);
        await sql`commit`.execute(conn);
      });
      await projector.caughtUp(40);
      await projector.stop();
      expect(await snapshot()).toEqual({ checkpoint: 40, transitions: 40, newest: 40 });
      expect(Object.values(await statusVersions())).toEqual(Array(5).fill(8));
    } finally {
      await projectorDb.destroy();
      await sql`alter database ${sql.id(database)} reset lock_timeout`.execute(t.db);
    }
  });

  it('two projectors under one name share the stream without applying anything twice', async () => {
    const reports: BatchReport[] = [];
    const a = start({ batchSize: 10, onBatch: (r) => reports.push(r) });
    const b = start({ batchSize: 10, onBatch: (r) => reports.push(r) });
    await appendDemoHistories(store, actorIds('d', 25), 20);
    await Promise.all([a.caughtUp(500), b.caughtUp(500)]);
    expect(reports.reduce((sum, r) => sum + r.applied, 0)).toBe(500);
    expect(await snapshot()).toEqual({ checkpoint: 500, transitions: 500, newest: 500 });
  });

  describe('storeCheckpoint', () => {
    it('moves forward only, and says why when it does not', async () => {
      expect(await readCheckpoint(t.db, 'c')).toBe(0);
      expect(await storeCheckpoint(t.db, 'c', 10, { expected: 0 })).toEqual({ success: true, position: 10 });
      expect(await storeCheckpoint(t.db, 'c', 10)).toEqual({ success: false, reason: 'IGNORED', current: 10 });
      expect(await storeCheckpoint(t.db, 'c', 5)).toEqual({ success: false, reason: 'CURRENT_AHEAD', current: 10 });
      expect(await storeCheckpoint(t.db, 'c', 20, { expected: 7 })).toEqual({
        success: false,
        reason: 'MISMATCH',
        current: 10,
      });
      expect(await storeCheckpoint(t.db, 'c', 20, { expected: 0 })).toEqual({
        success: false,
        reason: 'MISMATCH',
        current: 10,
      });
      expect(await storeCheckpoint(t.db, 'new', 3, { expected: 2 })).toEqual({
        success: false,
        reason: 'MISMATCH',
        current: 0,
      });
      expect(await storeCheckpoint(t.db, 'c', 20, { expected: 10 })).toEqual({ success: true, position: 20 });
      expect(await storeCheckpoint(t.db, 'c', 25)).toEqual({ success: true, position: 25 });
      await setCheckpoint(t.db, 'c', 4);
      expect(await readCheckpoint(t.db, 'c')).toBe(4);
    });
  });

  it('resubscribes from a checkpoint moved back, and skips past one moved ahead', async () => {
    const reports: BatchReport[] = [];
    const projector = start({ batchSize: 10, onBatch: (r) => reports.push(r) });
    const ids = actorIds('m', 10);
    await appendDemoHistories(store, ids, 3);
    await projector.caughtUp(30);
    await setCheckpoint(t.db, 'daqflow-projector', 50);
    await appendDemoHistories(store, ids, 6, { from: 4 });
    await projector.caughtUp(60);
    // 31..50 were taken as done: the checkpoint said so.
    expect((await snapshot()).transitions).toBe(40);

    await sql`truncate actor_transition, actor_status`.execute(t.db);
    await setCheckpoint(t.db, 'daqflow-projector', 0);
    await appendDemoHistories(store, ids, 7, { from: 7 });
    await projector.caughtUp(70);
    expect(await snapshot()).toEqual({ checkpoint: 70, transitions: 70, newest: 70 });
  });
});
