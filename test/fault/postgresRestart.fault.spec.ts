import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { rebuildRetrying } from '../../adapters/app/rebuildRetrying.js';
import { ensureEventStream } from '../../adapters/jetstream/eventStream.js';
import { createJetStreamEventStore } from '../../adapters/jetstream/jetstreamEventStore.js';
import { createDb } from '../../adapters/postgres/createDb.js';
import { migrateToLatest } from '../../adapters/postgres/migrate.js';
import type { RecordedEvent } from '../../events/envelope.js';
import { readCheckpoint } from '../../projections/checkpoints.js';
import { DEFAULT_PROJECTOR_NAME } from '../../projections/projector.js';
import { allProjections } from '../../adapters/jobs/registry.js';
import { appendDemoHistories } from '../harness/demoEvents.js';
import { killAllDaqflowProcesses, startDaqflowProcess, type DaqflowProcess } from '../harness/daqflowProcess.js';
import { startOwnPostgres, type OwnPostgres } from '../harness/ownPostgres.js';
import { uniqueToken } from '../harness/testNames.js';
import { apiRequest, foldStatus, projectedStatus, readWholeStream, tempHome, untilQueryRefused, waitFor } from '../e2e/e2eHelpers.js';

/*
 * PostgreSQL holds only projections: its going away must cost no job and no event. A server of
 * this file's own is stopped (fast shutdown, sessions cut) and started again while `daqflow up`
 * runs demo jobs, and while a projection rebuild folds; afterwards the jobs have completed, each
 * step ran once, and the tables equal what the stream says.
 */

const JOBS = 20;
const STEPS = 12;
const INTERVAL_MS = 400;
const OUTAGE_MS = 4_000;

const natsUrl = inject('natsUrl');
let postgres: OwnPostgres;
let nc: NatsConnection;

beforeAll(async () => {
  postgres = await startOwnPostgres('restart');
  nc = await connect({ servers: natsUrl, name: 'fault-postgres-client' });
}, 120_000);

afterAll(async () => {
  await killAllDaqflowProcesses();
  await nc?.close();
  await postgres?.destroy();
});

/** Rows of actor_status as the stream says they must be, beside those the projector wrote. */
const statusAgainstStream = async (url: string, events: readonly RecordedEvent[]) => {
  const db = createDb(url, { max: 1 });
  try {
    const transitions = await db.selectFrom('actor_transition').select(['position']).orderBy('position').execute();
    return {
      status: await projectedStatus(db),
      expected: foldStatus(events),
      transitions: transitions.map((t) => Number(t.position)),
      checkpoint: await readCheckpoint(db, DEFAULT_PROJECTOR_NAME),
    };
  } finally {
    await db.destroy();
  }
};

describe('PostgreSQL stopped and started', () => {
  it('during demo jobs: daqflow up stays, queries say STORE_UNAVAILABLE, every job completes once, projections equal the stream', async () => {
    const token = uniqueToken();
    const stream = `T_${token}`;
    const prefix = `t_${token}`;
    const daqflow: DaqflowProcess = await startDaqflowProcess({
      env: {
        DAQFLOW_NATS_URL: natsUrl,
        DAQFLOW_DATABASE_URL: postgres.url,
        DAQFLOW_HOME: tempHome('pg-restart'),
        DAQFLOW_STREAM: stream,
        DAQFLOW_SUBJECT_PREFIX: prefix,
        // info: the outage and its end are logged at error and info.
        DAQFLOW_LOG_LEVEL: 'info',
      },
    });
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      const started = await apiRequest(nc, `${prefix}.demo.start`, { steps: STEPS, intervalMs: INTERVAL_MS }, 10_000);
      if (started.kind !== 'ok') throw new Error(`demo.start: ${JSON.stringify(started)}`);
      ids.push(String(started.body.id));
    }
    // Mid-way: every job has done a step, none is done.
    await waitFor(
      'every demo job to have done a step',
      async () => {
        const events = await readWholeStream(natsUrl, stream, prefix);
        const stepped = new Set(events.filter((e) => e.type.endsWith('stepDone')).map((e) => e.actorId));
        return ids.every((id) => stepped.has(id)) ? true : undefined;
      },
      20_000,
      200,
    );

    const down = Date.now();
    await postgres.stop();
    const refused = await untilQueryRefused(nc, prefix, 10_000);
    expect(refused.status).toBe('500');
    expect(refused.body).toMatchObject({ error: { code: 'STORE_UNAVAILABLE', details: { retryable: true } } });
    // The jobs go on without it: a step is recorded while it is down.
    const before = (await readWholeStream(natsUrl, stream, prefix)).length;
    await waitFor(
      'an event appended while PostgreSQL is down',
      async () => ((await readWholeStream(natsUrl, stream, prefix)).length > before ? true : undefined),
      10_000,
      200,
    );
    await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - down))));
    await postgres.start();

    const events = await waitFor(
      'every demo job to complete',
      async () => {
        const all = await readWholeStream(natsUrl, stream, prefix);
        const done = foldStatus(all).filter((s) => ids.includes(s.id) && s.final);
        return done.length === JOBS ? all : undefined;
      },
      60_000,
      250,
    );
    for (const state of foldStatus(events).filter((s) => ids.includes(s.id))) expect(state.state).toBe('completed');
    // Each step's effect ran once: one stepDone per step and job.
    for (const id of ids) {
      const steps = events.filter((e) => e.actorId === id && e.type.endsWith('stepDone')).map((e) => (e.data as { step: number }).step);
      expect(steps, id).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    }
    const last = events[events.length - 1]?.position ?? 0;
    const projected = await waitFor(
      `the projector to reach position ${last}`,
      async () => {
        const seen = await statusAgainstStream(postgres.url, events).catch(() => undefined);
        return seen && seen.checkpoint === last ? seen : undefined;
      },
      30_000,
      250,
    );
    expect(projected.status).toEqual(projected.expected);
    expect(projected.transitions).toEqual(events.map((e) => e.position));

    expect(daqflow.child.exitCode, daqflow.stderr()).toBeNull();
    expect(daqflow.stderr()).not.toContain('unhandled failure');
    // Once per outage, not once per failed query.
    expect(daqflow.stderr().match(/PostgreSQL is not reachable: /g) ?? []).toHaveLength(1);
    expect(daqflow.stderr()).toMatch(/PostgreSQL is back after \d+\.\d s/);

    daqflow.kill('SIGTERM');
    expect(await daqflow.exited).toEqual({ code: 0, signal: null });
  }, 150_000);

  it('during a projection rebuild: it starts again once the server is back and swaps in tables equal to the stream', async () => {
    const token = uniqueToken();
    const stream = `T_${token}`;
    const subjectPrefix = `t_${token}.events`;
    await ensureEventStream(await jetstreamManager(nc), { stream, subjectPrefix });
    const store = createJetStreamEventStore({ nc, stream, subjectPrefix });
    await appendDemoHistories(store, Array.from({ length: 100 }, (_, i) => `r${i}`), 20);
    const events: RecordedEvent[] = [];
    for await (const batch of store.readAll({ batchSize: 1_000 })) events.push(...batch);

    const db = createDb(postgres.url, { max: 4 });
    try {
      await migrateToLatest(db);
      let cut: Promise<void> | undefined;
      const restarts: number[] = [];
      const result = await rebuildRetrying({
        db,
        store,
        projections: allProjections,
        prepareSchema: (schema) => migrateToLatest(db, { schema }),
        batchSize: 50,
        logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
        onProgress: (p) => {
          // The first fold batch is in the shadow tables: cut the server under the rest.
          if (p.phase === 'fold' && cut === undefined) {
            cut = (async () => {
              await postgres.stop();
              await new Promise((r) => setTimeout(r, 1_500));
              await postgres.start();
            })();
          }
        },
        onRestart: (attempt) => restarts.push(attempt),
      });
      await cut;
      expect(restarts).toEqual([2]);
      expect(result.position).toBe(events[events.length - 1]?.position);
      expect(await projectedStatus(db)).toEqual(foldStatus(events));
      const transitions = await db.selectFrom('actor_transition').select(['position']).orderBy('position').execute();
      expect(transitions.map((t) => Number(t.position))).toEqual(events.map((e) => e.position));
      expect(await readCheckpoint(db, DEFAULT_PROJECTOR_NAME)).toBe(result.position);
      const shadows = await sql`select nspname from pg_namespace where nspname like 'daqflow_rebuild_%'`.execute(db);
      expect(shadows.rows, 'the cut attempt left no shadow schema').toEqual([]);
    } finally {
      await db.destroy();
    }
  }, 120_000);
});
