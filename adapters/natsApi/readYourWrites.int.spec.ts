import { demoActor } from '../../actors/demo/index.js';
import { defineActor } from '../../actors/runtime/actorDefinition.js';
import type { Msg, NatsConnection } from '@nats-io/nats-core';
import { jetstreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { allActorDefinitions } from '../jobs/registry.js';
import type { ActorRuntime } from '../../actors/runtime/actorRuntime.js';
import { silentLogger } from '../../actors/runtime/logger.js';
import { EventSchemas } from '../../events/eventSchemas.js';
import type { Projector } from '../../projections/projector.js';
import { createDemoRuntime } from '../../test/harness/demoRuntime.js';
import { useTestDatabase } from '../../test/harness/testDatabase.js';
import { testStream, uniqueToken } from '../../test/harness/testNames.js';
import { startProjectorThread } from '../app/projectorThread.js';
import { createStatusQueries } from '../app/statusQueries.js';
import { closeNats, connectNats } from '../jetstream/connection.js';
import { ensureEventStream } from '../jetstream/eventStream.js';
import { createJetStreamEventStore, type JetStreamEventStore } from '../jetstream/jetstreamEventStore.js';
import { startApi, type RunningApi } from './startApi.js';

// Read-your-writes through the API as daqflow up wires it: a command's reply names the stream
// position of its event, and a query with that `minPosition` answers from projections that hold
// it. The real runtime on JetStream, the projector on its thread, PostgreSQL and the query service.

const t = useTestDatabase();
const names = testStream();
const prefix = `t_${uniqueToken()}`;
let nc: NatsConnection;
let store: JetStreamEventStore;
let runtime: ActorRuntime;
let projector: Projector;
let api: RunningApi;

const call = async (name: string, body: unknown): Promise<{ status: number | undefined; body: Record<string, unknown> }> => {
  const m: Msg = await nc.request(`${prefix}.${name}`, JSON.stringify(body), { timeout: 10_000 });
  const code = m.headers?.get('Nats-Service-Error-Code');
  return { status: code ? Number(code) : undefined, body: JSON.parse(m.string()) as Record<string, unknown> };
};

/**
 * Holds the lock every projector batch takes, so that the projections stay where they are until
 * `release()`: what a query answers then depends on whether it waited, not on timing.
 */
const holdProjections = async (): Promise<{ release: () => Promise<void> }> => {
  const client = new pg.Client({ connectionString: t.url });
  await client.connect();
  await client.query('begin');
  await client.query(`select pg_advisory_xact_lock(hashtext('daqflow-projections'))`);
  return {
    release: async () => {
      await client.query('commit');
      await client.end();
    },
  };
};

beforeAll(async () => {
  const natsUrl = inject('natsUrl');
  nc = await connectNats(natsUrl, 'read-your-writes-spec');
  await ensureEventStream(await jetstreamManager(nc), names);
  const schemas = new EventSchemas();
  for (const definition of allActorDefinitions) schemas.register(definition.kind, definition.eventSchemas);
  store = createJetStreamEventStore({ nc, ...names, schemas });
  runtime = createDemoRuntime(store);
  projector = startProjectorThread({ nats: { servers: natsUrl }, databaseUrl: t.url, ...names }, { info: () => undefined, warn: () => undefined, error: () => undefined });
  api = await startApi(nc, {
    runtime,
    queries: createStatusQueries(t.db),
    logger: silentLogger,
    kinds: [{ kind: 'demo', serviceName: 'daqflow-demo', group: 'demo', definition: defineActor(demoActor) }],
    subjectPrefix: prefix,
  });
});

afterAll(async () => {
  await api?.stop();
  await runtime?.stop(1_000);
  await projector?.stop();
  await store?.close();
  if (nc) {
    await jetstreamManager(nc).then((jsm) => jsm.streams.delete(names.stream)).catch(() => undefined);
    await closeNats(nc);
  }
});

describe('queries with minPosition', () => {
  it('a command reply names the stream position of its event', async () => {
    const started = await call('demo.start', { steps: 3, intervalMs: 3_600_000 });
    expect(started.status).toBeUndefined();
    const last = await store.readLast('demo', started.body.id as string);
    expect(started.body.position).toBe(last?.position);
    expect(started.body.position).toBeGreaterThan(0);
  });

  it('answer with the row the command just acknowledged wrote, once the projections hold it', async () => {
    // Projections up to date before the hold, so the hold is the only thing in the way.
    const warm = await call('demo.start', { steps: 3, intervalMs: 3_600_000 });
    await projector.caughtUp(warm.body.position as number);
    const hold = await holdProjections();
    let released = false;
    try {
      const started = await call('demo.start', { steps: 3, intervalMs: 3_600_000, label: 'read your writes' });
      expect(started.status).toBeUndefined();
      const id = started.body.id as string;
      const position = started.body.position as number;
      const waiting = call('query.list', { kind: 'demo', minPosition: position });
      const history = call('query.history', { id, minPosition: position });
      // Without minPosition the same query is answered from where the projections stand.
      const stale = await call('query.list', { kind: 'demo' });
      expect((stale.body.items as Array<{ id: string }>).map((r) => r.id)).not.toContain(id);
      await hold.release();
      released = true;
      const fresh = await waiting;
      expect(fresh.status).toBeUndefined();
      expect(fresh.body.items).toContainEqual(expect.objectContaining({ id, kind: 'demo', state: 'waiting', position }));
      const events = (await history).body.events as Array<{ position: number; type: string }>;
      expect(events.map((e) => [e.position, e.type])).toEqual([[position, 'started']]);
    } finally {
      if (!released) await hold.release();
    }
  });

  it('refuse with PROJECTIONS_BEHIND when the projections do not get there within waitMs', async () => {
    const hold = await holdProjections();
    try {
      const started = await call('demo.start', { steps: 3, intervalMs: 3_600_000 });
      const position = started.body.position as number;
      const refused = await call('query.stats', { minPosition: position, waitMs: 200 });
      expect(refused.status).toBe(409);
      expect(refused.body.error).toMatchObject({
        code: 'PROJECTIONS_BEHIND',
        details: { minPosition: position, waitMs: 200, retryable: true },
      });
      expect((refused.body.error as { details: { position: number } }).details.position).toBeLessThan(position);
    } finally {
      await hold.release();
    }
  });
});
