import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { jetstream, jetstreamManager, RetentionPolicy, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { z } from 'zod';
import { startNatsServer } from '../embedded/natsServer.js';
import { freePort } from '../embedded/freePort.js';
import type { RecordedEvent } from '../../events/envelope.js';
import {
  DuplicateEventError,
  StoreUnavailableError,
  ValidationError,
  VersionConflictError,
} from '../../events/errors.js';
import { EventSchemas } from '../../events/eventSchemas.js';
import { appendHistory, testEventStoreContract } from '../../test/contracts/eventStore.contract.js';
import { demoEvent } from '../../test/harness/demoEvents.js';
import { testStream } from '../../test/harness/testNames.js';
import { connectNats } from './connection.js';
import { applyEventStream, duplicateWindowMs, ensureEventStream, eventStreamConfig, type EventStreamNames } from './eventStream.js';
import { StreamMismatchError } from './errors.js';
import { appliedEventStream, compareEventStream } from './compareEventStream.js';
import {
  createJetStreamEventStore,
  type JetStreamEventStore,
  type JetStreamEventStoreOptions,
} from './jetstreamEventStore.js';
import { actorSubject } from './subjects.js';

const natsUrl = inject('natsUrl');

interface Opened {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly store: JetStreamEventStore;
}

/** A connection of its own (as another process would have) and a store on `names`. */
const openStore = async (
  names: EventStreamNames,
  options: Partial<JetStreamEventStoreOptions> = {},
): Promise<Opened> => {
  const nc = await connectNats(natsUrl, 'daqflow-int-spec');
  const jsm = await jetstreamManager(nc);
  await ensureEventStream(jsm, names);
  return { nc, jsm, store: createJetStreamEventStore({ nc, ...names, ...options }) };
};

const closeStore = async ({ nc, store }: Opened): Promise<void> => {
  await store.close();
  await nc.close();
};

testEventStoreContract('JetStreamEventStore', async () => {
  const names = testStream();
  const opened = await openStore(names);
  return {
    store: opened.store,
    cleanup: async () => {
      await opened.store.close();
      await opened.jsm.streams.delete(names.stream).catch(() => undefined);
      await opened.nc.close();
    },
  };
});

describe('JetStreamEventStore on nats-server', () => {
  const names = testStream();
  let a: Opened;
  let b: Opened;

  beforeAll(async () => {
    a = await openStore(names);
    b = await openStore(names);
  });

  afterAll(async () => {
    await a.jsm.streams.delete(names.stream).catch(() => undefined);
    await closeStore(a);
    await closeStore(b);
  });

  describe('ensureEventStream', () => {
    it('creates a missing stream, can run twice, and reports the operator\'s limits without changing them', async () => {
      const own = testStream();
      const first = await ensureEventStream(a.jsm, own);
      const second = await ensureEventStream(a.jsm, own);
      for (const info of [first, second]) {
        expect(info.config).toMatchObject({
          name: own.stream,
          subjects: [`${own.subjectPrefix}.>`],
          storage: 'file',
          allow_direct: true,
          discard: 'old',
          duplicate_window: duplicateWindowMs * 1_000_000,
          max_msgs: -1,
          max_bytes: -1,
          max_age: 0,
        });
      }
      // An operator sets limits of their own: daqflow uses the stream, says so, and keeps them.
      await a.jsm.streams.update(own.stream, { ...first.config, max_msgs: 1_000_000, max_age: 90 * 86_400 * 1e9 });
      const heard: unknown[] = [];
      const third = await ensureEventStream(a.jsm, own, { onOperatorSettings: (d) => heard.push(...d) });
      expect(third.config.max_msgs).toBe(1_000_000);
      expect((await a.jsm.streams.info(own.stream)).config).toMatchObject({ max_msgs: 1_000_000, max_age: 90 * 86_400 * 1e9 });
      expect(heard).toEqual([
        { field: 'max_msgs', have: 1_000_000, want: -1, needed: false },
        { field: 'max_age', have: 90 * 86_400 * 1e9, want: 0, needed: false },
      ]);
      await a.jsm.streams.delete(own.stream);
    });

    it("leaves an operator's replicas and placement (an R3 stream on a cluster) and a longer duplicate window alone", () => {
      const want = eventStreamConfig(testStream());
      const r3 = { ...want, num_replicas: 3, placement: { cluster: 'c1', tags: ['ssd'] }, duplicate_window: want.duplicate_window * 10 };
      const differences = compareEventStream(r3, want);
      expect(differences.map((d) => [d.field, d.needed])).toEqual([
        ['duplicate_window', false],
        ['num_replicas', false],
        ['placement', false],
      ]);
      expect(compareEventStream({ ...want, retention: RetentionPolicy.Workqueue, duplicate_window: 1e9 }, want).filter((d) => d.needed).map((d) => d.field)).toEqual([
        'retention',
        'duplicate_window',
      ]);
      // apply keeps the operator's replicas unless replicas are asked for
      expect(appliedEventStream(r3, want).num_replicas).toBe(3);
      expect(appliedEventStream(r3, want, 5).num_replicas).toBe(5);
    });

    it('refuses a stream with other subjects or without direct get, naming the differences, and changes nothing', async () => {
      const own = testStream();
      await a.jsm.streams.add({ name: own.stream, subjects: [`${own.subjectPrefix}.other.>`], allow_direct: false });
      const failure = await ensureEventStream(a.jsm, own).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(StreamMismatchError);
      expect((failure as Error).message).toContain(`subjects is ["${own.subjectPrefix}.other.>"], daqflow needs ["${own.subjectPrefix}.>"]`);
      expect((failure as Error).message).toContain('allow_direct is false, daqflow needs true');
      expect((failure as Error).message).toContain('daqflow stream apply');
      expect((await a.jsm.streams.info(own.stream)).config).toMatchObject({ subjects: [`${own.subjectPrefix}.other.>`], allow_direct: false });
      // Applied deliberately, the needed settings change and nothing else does.
      await a.jsm.streams.update(own.stream, { ...(await a.jsm.streams.info(own.stream)).config, max_msgs: 5_000 });
      const applied = await applyEventStream(a.jsm, own);
      expect(applied.config).toMatchObject({ subjects: [`${own.subjectPrefix}.>`], allow_direct: true, max_msgs: 5_000 });
      await expect(ensureEventStream(a.jsm, own)).resolves.toBeDefined();
      await a.jsm.streams.delete(own.stream);
    });
  });

  describe('unavailable store', () => {
    it('fails quickly with StoreUnavailableError naming the URL when nothing listens', async () => {
      const url = `nats://127.0.0.1:${await freePort()}`;
      const started = Date.now();
      const failure = await connectNats(url, { timeoutMs: 1_500 }).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(StoreUnavailableError);
      expect((failure as Error).message).toContain(url);
      expect((failure as Error).cause).toBeDefined();
      expect(Date.now() - started).toBeLessThan(3_000);
    });

    it('fails with StoreUnavailableError when its stream does not exist', async () => {
      const missing = createJetStreamEventStore({ nc: a.nc, ...testStream(), timeoutMs: 500 });
      await expect(missing.append(demoEvent())).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(missing.readStream('demo', 'x')).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(missing.lastPosition()).rejects.toBeInstanceOf(StoreUnavailableError);
    });

    it('fails with StoreUnavailableError when its server goes away', async () => {
      const scratch = mkdtempSync(join(tmpdir(), 'daqflow-nats-'));
      const server = await startNatsServer({ storeDir: scratch });
      const own = testStream();
      const nc = await connectNats(server.url, { timeoutMs: 1_000 });
      try {
        await ensureEventStream(await jetstreamManager(nc), own);
        const store = createJetStreamEventStore({ nc, ...own, timeoutMs: 1_000 });
        await appendHistory(store, 1);
        await server.stop();
        const started = Date.now();
        await expect(store.append(demoEvent())).rejects.toBeInstanceOf(StoreUnavailableError);
        await expect(store.lastPosition()).rejects.toBeInstanceOf(StoreUnavailableError);
        expect(Date.now() - started).toBeLessThan(5_000);
      } finally {
        await nc.close();
        await server.stop();
        rmSync(scratch, { recursive: true, force: true });
      }
    });
  });

  describe('two stores on two connections', () => {
    it('let exactly one of two concurrent appends at the same version win', async () => {
      for (let round = 0; round < 10; round++) {
        const actorId = randomUUID();
        if (round % 2 === 1) await a.store.append(demoEvent({ actorId }));
        const version = round % 2 === 1 ? 2 : 1;
        const settled = await Promise.allSettled([
          a.store.append(demoEvent({ actorId, version })),
          b.store.append(demoEvent({ actorId, version })),
        ]);
        expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(1);
        const [lost] = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
        expect(lost!.reason).toBeInstanceOf(VersionConflictError);
        expect(await a.store.readStream('demo', actorId)).toHaveLength(version);
      }
    });

    it('catch a stale version a store still believes in', async () => {
      const actorId = randomUUID();
      await a.store.append(demoEvent({ actorId }));
      await b.store.append(demoEvent({ actorId, version: 2 }));
      // a last saw version 1; the server's expected-sequence check must overrule it.
      await expect(a.store.append(demoEvent({ actorId, version: 2 }))).rejects.toMatchObject({
        name: 'VersionConflictError',
        expected: 1,
        actual: 2,
      });
      expect((await a.store.append(demoEvent({ actorId, version: 3 }))).version).toBe(3);
      expect((await b.store.readStream('demo', actorId)).map((e) => e.version)).toEqual([1, 2, 3]);
    });

    it('report a key the other one used as a duplicate, even at a stale version', async () => {
      const key = `req-${randomUUID()}`;
      const event = demoEvent();
      const first = await a.store.append(event, { idempotencyKey: key });
      await expect(b.store.append(event, { idempotencyKey: key })).rejects.toMatchObject({
        name: 'DuplicateEventError',
        position: first.position,
      });
      await expect(b.store.append(demoEvent({ actorId: event.actorId, version: 2 }), { idempotencyKey: key })).rejects.toBeInstanceOf(
        DuplicateEventError,
      );
      expect(await b.store.readStream('demo', event.actorId)).toHaveLength(1);
      // The probe that asked the server about the key stored nothing and left no key behind.
      const other = demoEvent();
      await expect(b.store.append(demoEvent({ actorId: other.actorId, version: 2 }), { idempotencyKey: 'probe-' + key })).rejects.toBeInstanceOf(VersionConflictError);
      expect((await b.store.append(other, { idempotencyKey: 'probe-' + key })).version).toBe(1);
    });
  });

  describe('stored messages that do not decode', () => {
    it('are skipped by every reader and reported with their position', async () => {
      const own = testStream();
      const corrupt: number[] = [];
      const opened = await openStore(own, { onCorrupt: (position) => corrupt.push(position) });
      try {
        const js = jetstream(opened.nc);
        const actorId = randomUUID();
        const subject = actorSubject(own.subjectPrefix, 'demo', actorId);
        const [v1] = await appendHistory(opened.store, 1, actorId);
        const garbage = (await js.publish(subject, 'not json')).seq;
        const wrongShape = (await js.publish(subject, JSON.stringify({ hello: 'world' }))).seq;

        expect(await opened.store.readStream('demo', actorId)).toEqual([v1]);
        expect(new Set(corrupt)).toEqual(new Set([garbage, wrongShape]));
        // The head is corrupt: readLast falls back to the newest event that decodes.
        expect(await opened.store.readLast('demo', actorId)).toEqual(v1);
        // An append cannot know the version after a corrupt head and must not guess. This store
        // still remembers version 1 at the head, so the server refuses first; after that it asks.
        await expect(opened.store.append(demoEvent({ actorId, version: 2 }))).rejects.toBeInstanceOf(VersionConflictError);
        await expect(opened.store.append(demoEvent({ actorId, version: 2 }))).rejects.toBeInstanceOf(StoreUnavailableError);

        const other = await appendHistory(opened.store, 1);
        const all: RecordedEvent[] = [];
        for await (const batch of opened.store.readAll({ batchSize: 1 })) all.push(...batch);
        expect(all).toEqual([v1, ...other]);
        const heads: RecordedEvent[] = [];
        for await (const head of opened.store.readHeads()) heads.push(head);
        expect(heads).toEqual(other);

        const subscription = opened.store.subscribe(1, { batchSize: 10 });
        const seen: RecordedEvent[] = [];
        for await (const batch of subscription) {
          expect(batch.length).toBeGreaterThan(0);
          seen.push(...batch);
          if (seen.length >= 2) await subscription.close();
        }
        expect(seen).toEqual([v1, ...other]);
        expect(opened.store.corruptCount).toBe(corrupt.length);
      } finally {
        await opened.jsm.streams.delete(own.stream);
        await closeStore(opened);
      }
    });
  });

  describe('schemas', () => {
    it('upcasts events to the current schema version as they are read', async () => {
      const schemas = new EventSchemas();
      schemas.register('demo', {
        'demo.renamed': {
          version: 2,
          schema: z.object({ title: z.string() }),
          upcasters: { 1: (data) => ({ title: (data as { name: string }).name }) },
        },
      });
      const store = createJetStreamEventStore({ nc: a.nc, ...names, schemas });
      const event = demoEvent({ type: 'demo.renamed', schemaVersion: 1, data: { name: 'old' } });
      const { position } = await store.append(event);
      const upcast = { ...event, schemaVersion: 2, data: { title: 'old' }, position };
      expect(await store.readStream('demo', event.actorId)).toEqual([upcast]);
      expect(await store.readLast('demo', event.actorId)).toEqual(upcast);
      // A store without schemas gives the event as stored.
      expect(await b.store.readLast('demo', event.actorId)).toEqual({ ...event, position });
    });
  });

  describe('envelopes', () => {
    it('refuses an envelope whose kind or id cannot be a subject token', async () => {
      await expect(a.store.append(demoEvent({ actorId: 'a.b' }))).rejects.toBeInstanceOf(ValidationError);
      await expect(a.store.append(demoEvent({ actorKind: 'de*mo' }))).rejects.toBeInstanceOf(ValidationError);
    });

    it('stores the envelope as the JSON body of one message on the actor subject', async () => {
      const event = demoEvent();
      const { position } = await a.store.append(event, { idempotencyKey: `req-${randomUUID()}` });
      const stored = await a.jsm.streams.getMessage(names.stream, { seq: position });
      expect(stored?.subject).toBe(actorSubject(names.subjectPrefix, 'demo', event.actorId));
      expect(stored?.json()).toEqual(event);
      expect(stored?.header.get('Nats-Msg-Id')).toMatch(/^req-/);
    });
  });

  describe('consumers', () => {
    it('leave no consumer behind after reads and closed subscriptions', async () => {
      const own = testStream();
      const opened = await openStore(own);
      try {
        const [e1] = await appendHistory(opened.store, 3);
        await opened.store.readStream('demo', e1!.actorId);
        await opened.store.readStream('demo', e1!.actorId, 2);
        for await (const _ of opened.store.readAll({ batchSize: 1 })) break;
        for await (const _ of opened.store.readHeads()) break;
        const subscription = opened.store.subscribe(1);
        for await (const _ of subscription) break;
        const waiting = opened.store.subscribe(1);
        const iterating = (async () => {
          for await (const _ of waiting) await waiting.close();
        })();
        await iterating;
        const idle = opened.store.subscribe(1);
        await idle.close();
        await opened.store.close();
        expect((await opened.jsm.streams.info(own.stream)).state.consumer_count).toBe(0);
      } finally {
        await opened.jsm.streams.delete(own.stream);
        await closeStore(opened);
      }
    });

    it('a durable subscription shows its acked position on the server and is kept when resumed there', async () => {
      const durable = `proj_${randomUUID().slice(0, 8)}`;
      const history = await appendHistory(a.store, 3);
      const from = history[0]!.position;
      const one = a.store.subscribe(from, { durable, batchSize: 10 });
      const seen: RecordedEvent[] = [];
      for await (const batch of one) {
        seen.push(...batch);
        if (seen.length >= 3) break;
      }
      one.ack(history[2]!.position);
      await vi.waitFor(
        async () => {
          const info = await a.jsm.consumers.info(names.stream, durable);
          expect(info.ack_floor.stream_seq).toBe(history[2]!.position);
        },
        { timeout: 5_000, interval: 20 },
      );
      const created = (await a.jsm.consumers.info(names.stream, durable)).created;

      // Resumed right after its ack floor: the same consumer goes on.
      const later = await appendHistory(a.store, 1);
      const two = b.store.subscribe(history[2]!.position + 1, { durable });
      for await (const batch of two) {
        if (batch.some((e) => e.id === later[0]!.id)) break;
      }
      expect((await a.jsm.consumers.info(names.stream, durable)).created).toBe(created);

      // Resumed elsewhere: the caller's checkpoint wins, the consumer is made again.
      const three = b.store.subscribe(from, { durable });
      const again: RecordedEvent[] = [];
      for await (const batch of three) {
        again.push(...batch);
        if (again.some((e) => e.id === later[0]!.id)) break;
      }
      expect(again[0]).toEqual(history[0]);
      await a.jsm.consumers.delete(names.stream, durable);
    });
  });
});
