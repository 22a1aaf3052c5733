import { demoActor } from '../../actors/demo/index.js';
import { defineActor } from '../../actors/runtime/actorDefinition.js';
import { connect } from '@nats-io/transport-node';
import type { Msg, NatsConnection } from '@nats-io/nats-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ActorRuntime } from '../../actors/runtime/actorRuntime.js';
import type { Logger } from '../../actors/runtime/logger.js';
import type { RecordedEvent } from '../../events/envelope.js';
import { StoreUnavailableError } from '../../events/errors.js';
import { InMemoryEventStore } from '../../events/inMemoryEventStore.js';
import { createDemoRuntime } from '../../test/harness/demoRuntime.js';
import { uniqueToken } from '../../test/harness/testNames.js';
import type { ApiRuntime } from './actorService.js';
import type { StatusQueries } from './queryService.js';
import { startApi, type RunningApi } from './startApi.js';

interface LogEntry {
  readonly level: keyof Logger;
  readonly obj: object;
  readonly msg: string | undefined;
}

const logged: LogEntry[] = [];
const logger: Logger = {
  debug: (obj, msg) => logged.push({ level: 'debug', obj, msg }),
  info: (obj, msg) => logged.push({ level: 'info', obj, msg }),
  warn: (obj, msg) => logged.push({ level: 'warn', obj, msg }),
  error: (obj, msg) => logged.push({ level: 'error', obj, msg }),
};

// The read side as the projections will give it, folded from the store's events: the spec is
// about the API, not about projections.
const allEvents = async (store: InMemoryEventStore): Promise<RecordedEvent[]> => {
  const events: RecordedEvent[] = [];
  for await (const batch of store.readAll()) events.push(...batch);
  return events;
};
const fakeQueries = (store: InMemoryEventStore): StatusQueries => ({
  list: async ({ kind, state, limit }) => {
    const latest = new Map<string, RecordedEvent>();
    for (const e of await allEvents(store)) latest.set(`${e.actorKind}.${e.actorId}`, e);
    return [...latest.values()]
      .filter((e) => (kind === undefined || e.actorKind === kind) && (state === undefined || e.state === state))
      .sort((a, b) => b.position - a.position)
      .slice(0, limit)
      .map((e) => ({ kind: e.actorKind, id: e.actorId, state: e.state, version: e.version, final: e.final, summary: e.summary }));
  },
  history: async (id) => {
    if (id === 'store-down') throw new StoreUnavailableError('projection database unreachable');
    return (await allEvents(store))
      .filter((e) => e.actorId === id)
      .map((e) => ({ version: e.version, type: e.type, previousState: e.previousState, state: e.state, time: e.time, data: e.data }));
  },
  // query.stats over real projections is queryStats.int.spec.ts's; here it only has to exist.
  stats: async () => [],
  caughtUp: async (position) => ({ reached: true, position }),
});

interface Reply {
  readonly status: number | undefined;
  readonly errorHeader: string | undefined;
  readonly duplicate: boolean;
  readonly body: Record<string, unknown>;
  readonly raw: string;
}
interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly details: Record<string, unknown> };
}

let server: NatsConnection;
let client: NatsConnection;
let api: RunningApi;
let store: InMemoryEventStore;
let runtime: ActorRuntime;
const prefix = `t_${uniqueToken()}`;
const subject = (s: string): string => `${prefix}.${s}`;

const toReply = (m: Msg): Reply => {
  const code = m.headers?.get('Nats-Service-Error-Code');
  const raw = m.string();
  return {
    status: code ? Number(code) : undefined,
    errorHeader: m.headers?.get('Nats-Service-Error') || undefined,
    duplicate: m.headers?.get('Daqflow-Duplicate') === 'true',
    body: JSON.parse(raw) as Record<string, unknown>,
    raw,
  };
};

const call = async (name: string, body?: unknown): Promise<Reply> => {
  const payload = body === undefined ? '' : typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
  return toReply(await client.request(subject(name), payload, { timeout: 5_000 }));
};

const errorOf = (r: Reply): ErrorBody['error'] => (r.body as unknown as ErrorBody).error;

const startDemo = async (body: Record<string, unknown> = {}): Promise<string> => {
  const r = await call('demo.start', { intervalMs: 3_600_000, ...body });
  expect(r.status).toBeUndefined();
  return r.body.id as string;
};

const serviceId = (index: number): string => {
  const service = api.services[index];
  if (!service) throw new Error(`no service ${index}`);
  return service.info().id;
};

beforeAll(async () => {
  const url = inject('natsUrl');
  server = await connect({ servers: url, name: 'natsApi-spec-server' });
  client = await connect({ servers: url, name: 'natsApi-spec-client' });
  store = new InMemoryEventStore();
  runtime = createDemoRuntime(store, { logger });
  // A runtime that fails in a way no DaqflowError describes, to see what a client is told.
  const flaky: ApiRuntime = {
    create: (...args) => runtime.create(...args),
    execute: (...args) => runtime.execute(...args),
    findCreated: (...args) => runtime.findCreated(...args),
    get: (kind, id) =>
      id === 'boom' ? Promise.reject(new Error('secret: password=hunter2 at /srv/internal.ts:42')) : runtime.get(kind, id),
  };
  api = await startApi(server, {
    runtime: flaky,
    queries: fakeQueries(store),
    logger,
    kinds: [{ kind: 'demo', serviceName: 'daqflow-demo', group: 'demo', definition: defineActor(demoActor) }],
    subjectPrefix: prefix,
    ownedHere: (kind) => runtime.ownedCounts()[kind] ?? 0,
  });
});

afterAll(async () => {
  await api?.stop(1_000);
  await runtime?.stop(100);
  await client?.close();
  await server?.close();
});

describe('NATS request API: discovery', () => {
  it('answers $SRV.PING for every service it runs', async () => {
    const ids = new Set<string>();
    const names = new Map<string, string>();
    // Other spec files run services on the same server: wait for ours (up to 5 s), not for all.
    for await (const m of await client.requestMany('$SRV.PING', '', { strategy: 'timer', maxWait: 5_000 })) {
      const ping = m.json<{ type: string; name: string; id: string; version: string }>();
      ids.add(ping.id);
      names.set(ping.id, ping.name);
      expect(ping.type).toBe('io.nats.micro.v1.ping_response');
      if (ids.has(serviceId(0)) && ids.has(serviceId(1))) break;
    }
    expect(ids.has(serviceId(0))).toBe(true);
    expect(ids.has(serviceId(1))).toBe(true);
    expect(names.get(serviceId(0))).toBe('daqflow-demo');
    expect(names.get(serviceId(1))).toBe('daqflow-query');
  });

  it('lists every endpoint of daqflow-demo in $SRV.INFO, with the package version', async () => {
    const m = await client.request(`$SRV.INFO.daqflow-demo.${serviceId(0)}`, '', { timeout: 2_000 });
    const info = m.json<{
      name: string;
      version: string;
      description: string;
      endpoints: Array<{ name: string; subject: string; metadata?: Record<string, string> }>;
    }>();
    expect(info.name).toBe('daqflow-demo');
    expect(info.version).toBe('0.1.0');
    expect(info.description).toMatch(/demo/);
    expect(info.endpoints.map((e) => e.subject).sort()).toEqual(
      ['cancel', 'get', 'note', 'start'].map((n) => subject(`demo.${n}`)),
    );
    const start = info.endpoints.find((e) => e.name === 'start');
    expect(start?.metadata?.creates).toBe('true');
    expect(JSON.parse(start?.metadata?.request_schema ?? '{}')).toMatchObject({ type: 'object', properties: { steps: {} } });

    const q = await client.request(`$SRV.INFO.daqflow-query.${serviceId(1)}`, '', { timeout: 2_000 });
    expect(q.json<{ endpoints: Array<{ subject: string }> }>().endpoints.map((e) => e.subject).sort()).toEqual([
      subject('query.history'),
      subject('query.list'),
      subject('query.stats'),
    ]);
  });
});

describe('NATS request API: demo actors', () => {
  it('starts, reads, notes and cancels an actor', async () => {
    const started = await call('demo.start', { steps: 2, intervalMs: 3_600_000, label: 'api' });
    expect(started.status).toBeUndefined();
    expect(started.body).toMatchObject({ state: 'waiting', version: 1, final: false, label: 'api', steps: 2 });
    const id = started.body.id as string;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    expect((await call('demo.get', { id })).body).toMatchObject({ id, state: 'waiting', version: 1, notes: 0 });
    expect((await call('demo.note', { id, text: 'hello' })).body).toMatchObject({ id, state: 'waiting', version: 2, notes: 1 });
    expect((await call('demo.cancel', { id, reason: 'done testing' })).body).toMatchObject({
      id,
      state: 'cancelled',
      final: true,
      version: 3,
    });
    expect((await store.readStream('demo', id)).map((e) => e.type)).toEqual(['started', 'noted', 'cancelled']);
  });

  it('answers a retried start (same requestId) with the first answer and stores it once', async () => {
    const requestId = `req-${uniqueToken()}`;
    const first = await call('demo.start', { intervalMs: 3_600_000, requestId });
    const again = await call('demo.start', { intervalMs: 3_600_000, requestId });
    expect(first.status).toBeUndefined();
    expect(again.status).toBeUndefined();
    expect(again.body).toEqual(first.body);
    expect(first.duplicate).toBe(false);
    expect(again.duplicate).toBe(true);
    const events = await store.readStream('demo', first.body.id as string);
    expect(events).toHaveLength(1);
    expect(events[0]?.commandId).toBe(requestId);
  });

  it('makes a retried note idempotent too', async () => {
    const id = await startDemo();
    const a = await call('demo.note', { id, text: 'once', requestId: 'n-1' });
    const b = await call('demo.note', { id, text: 'once', requestId: 'n-1' });
    expect(b.body).toEqual(a.body);
    expect(b.duplicate).toBe(true);
    expect(await store.readStream('demo', id)).toHaveLength(2);
  });

  it('replies 400 with headers and a JSON error body to malformed JSON', async () => {
    const r = await call('demo.start', '{"steps": 3,');
    expect(r.status).toBe(400);
    expect(r.errorHeader).toMatch(/^malformed JSON: /);
    expect(errorOf(r)).toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringMatching(/^malformed JSON/) as unknown });
    expect(errorOf(r).details).toEqual({});
  });

  it('replies 400 to a body that is JSON but not an object, or not UTF-8', async () => {
    for (const body of ['[1,2]', '"text"', '42', 'null']) {
      const r = await call('demo.start', body);
      expect(r.status).toBe(400);
      expect(errorOf(r).message).toMatch(/must be a JSON object/);
    }
    const r = await call('demo.start', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]));
    expect(r.status).toBe(400);
    expect(errorOf(r).message).toMatch(/not valid UTF-8/);
  });

  it('takes an empty body as {} (get still needs its id)', async () => {
    const r = await call('demo.get');
    expect(r.status).toBe(400);
    expect(errorOf(r).code).toBe('VALIDATION_FAILED');
    expect(errorOf(r).details.issues).toEqual([expect.objectContaining({ path: ['id'] })]);
  });

  it('replies 400 with issue paths to wrong types and unknown fields', async () => {
    const r = await call('demo.start', { steps: 'three', label: 7, extra: true });
    expect(r.status).toBe(400);
    expect(r.errorHeader).toMatch(/steps/);
    const { code, details } = errorOf(r);
    expect(code).toBe('VALIDATION_FAILED');
    const issues = details.issues as Array<{ path: unknown[]; code: string }>;
    expect(issues.map((i) => i.path)).toEqual(expect.arrayContaining([['steps'], ['label'], []]));
    expect(issues.find((i) => i.path.length === 0)?.code).toBe('unrecognized_keys');

    const badId = await call('demo.note', { id: 'not an id!', text: 'x' });
    expect(badId.status).toBe(400);
    expect(errorOf(badId).details.issues).toEqual([expect.objectContaining({ path: ['id'] })]);

    const badRequestId = await call('demo.start', { requestId: 12 });
    expect(badRequestId.status).toBe(400);
    expect(errorOf(badRequestId).code).toBe('VALIDATION_FAILED');
  });

  it('replies 404 for an unknown id', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    for (const [name, body] of [
      ['demo.get', { id: missing }],
      ['demo.note', { id: missing, text: 'x' }],
      ['demo.cancel', { id: missing }],
    ] as const) {
      const r = await call(name, body);
      expect(r.status).toBe(404);
      expect(errorOf(r)).toMatchObject({ code: 'UNKNOWN_ACTOR', details: { kind: 'demo', id: missing } });
    }
  });

  it('replies 409 to a command the state does not accept', async () => {
    const id = await startDemo();
    await call('demo.cancel', { id });
    const r = await call('demo.note', { id, text: 'too late' });
    expect(r.status).toBe(409);
    expect(r.errorHeader).toMatch(/cancelled/);
    expect(errorOf(r)).toMatchObject({ code: 'WRONG_STATE', details: { id, state: 'cancelled', command: 'note' } });
  });

  it('replies 400 naming the limit to a 300 KiB body', async () => {
    const r = await call('demo.start', JSON.stringify({ label: 'x'.repeat(300 * 1024) }));
    expect(r.status).toBe(400);
    expect(errorOf(r).message).toMatch(/over the limit of 262144 bytes \(256 KiB\)/);
    expect(errorOf(r).details).toMatchObject({ limit: 262_144 });
  });

  it('hides an unexpected error behind a generic 500 and logs it in full', async () => {
    const r = await call('demo.get', { id: 'boom' });
    expect(r.status).toBe(500);
    expect(r.errorHeader).toBe('internal error');
    expect(errorOf(r)).toMatchObject({ code: 'INTERNAL', message: 'internal error' });
    expect(r.raw).not.toMatch(/hunter2|internal\.ts|at /);
    const errorId = errorOf(r).details.errorId as string;
    const entry = logged.find((l) => l.level === 'error' && (l.obj as { errorId?: string }).errorId === errorId);
    expect((entry?.obj as { err?: Error } | undefined)?.err?.message).toMatch(/hunter2/);
  });

  it('keeps answering after all of that, and counts requests and errors in $SRV.STATS', async () => {
    const abuse = [
      call('demo.start', '{'),
      call('demo.start', 'x'.repeat(300 * 1024)),
      call('demo.note', { id: 'boom' }),
      call('demo.get', { id: 'boom' }),
      call('demo.cancel', '[]'),
    ];
    expect((await Promise.all(abuse)).map((r) => r.status)).toEqual([400, 400, 400, 500, 400]);
    const id = await startDemo({ label: 'still here' });
    expect((await call('demo.get', { id })).body).toMatchObject({ id, label: 'still here' });
    expect(api.services.every((s) => !s.isStopped)).toBe(true);

    const m = await client.request(`$SRV.STATS.daqflow-demo.${serviceId(0)}`, '', { timeout: 2_000 });
    const stats = m.json<{
      endpoints: Array<{ name: string; num_requests: number; data: { errors: number; errorsByStatus: Record<string, number>; ownedHere: number } }>;
    }>();
    const start = stats.endpoints.find((e) => e.name === 'start');
    const get = stats.endpoints.find((e) => e.name === 'get');
    expect(start?.num_requests).toBeGreaterThanOrEqual(10);
    expect(start?.data.errors).toBeGreaterThanOrEqual(5);
    expect(start?.data.errorsByStatus['400']).toBeGreaterThanOrEqual(5);
    expect(get?.data.errorsByStatus['500']).toBeGreaterThanOrEqual(2);
    expect(get?.data.errorsByStatus['404']).toBeGreaterThanOrEqual(1);
    // The demo jobs started here wait an hour between steps: this process owns them all.
    expect(start?.data.ownedHere).toBeGreaterThan(0);
    expect(start?.data.ownedHere).toBe(runtime.ownedCounts()['demo']);
  });
});

describe('NATS request API: queries', () => {
  it('lists actors filtered by kind and state, within the limit', async () => {
    const cancelled = [await startDemo(), await startDemo()];
    for (const id of cancelled) await call('demo.cancel', { id, reason: 'list' });
    const waiting = await startDemo();

    const r = await call('query.list', { kind: 'demo', state: 'cancelled' });
    expect(r.status).toBeUndefined();
    const items = r.body.items as Array<{ id: string; kind: string; state: string }>;
    expect(items.every((i) => i.kind === 'demo' && i.state === 'cancelled')).toBe(true);
    expect(items.map((i) => i.id)).toEqual(expect.arrayContaining(cancelled));
    expect(items.map((i) => i.id)).not.toContain(waiting);

    const one = await call('query.list', { kind: 'demo', limit: 1 });
    expect(one.body.items).toHaveLength(1);
    const all = await call('query.list', {});
    expect((all.body.items as unknown[]).length).toBeGreaterThan(3);
    expect((await call('query.list', { kind: 'grab' })).body).toEqual({ items: [] });

    const bad = await call('query.list', { limit: 0, state: 3 });
    expect(bad.status).toBe(400);
    expect((errorOf(bad).details.issues as Array<{ path: unknown[] }>).map((i) => i.path)).toEqual(
      expect.arrayContaining([['limit'], ['state']]),
    );
    expect((await call('query.list', { limit: 5_000 })).status).toBe(400);
  });

  it('returns an actor history in version order, 404 for an id without events', async () => {
    const id = await startDemo();
    await call('demo.note', { id, text: 'one' });
    await call('demo.cancel', { id });
    const r = await call('query.history', { id });
    const events = r.body.events as Array<{ version: number; type: string; state: string }>;
    expect(events.map((e) => [e.version, e.type, e.state])).toEqual([
      [1, 'started', 'waiting'],
      [2, 'noted', 'waiting'],
      [3, 'cancelled', 'cancelled'],
    ]);

    const missing = await call('query.history', { id: 'no-such-actor' });
    expect(missing.status).toBe(404);
    expect(errorOf(missing)).toMatchObject({ code: 'UNKNOWN_ACTOR', details: { id: 'no-such-actor' } });
    expect((await call('query.history', {})).status).toBe(400);
  });

  it('reports an unreachable store as 500 STORE_UNAVAILABLE, marked retryable', async () => {
    const r = await call('query.history', { id: 'store-down' });
    expect(r.status).toBe(500);
    expect(errorOf(r)).toMatchObject({
      code: 'STORE_UNAVAILABLE',
      message: 'projection database unreachable',
      details: { retryable: true },
    });
  });
});
