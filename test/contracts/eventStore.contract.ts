import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RecordedEvent } from '../../events/envelope.js';
import { DuplicateEventError, VersionConflictError } from '../../events/errors.js';
import type { EventStore, EventSubscription } from '../../events/eventStore.js';
import { demoEvent } from '../harness/demoEvents.js';

/** A fresh, empty store and how to dispose of it. */
export interface EventStoreUnderTest {
  readonly store: EventStore;
  cleanup(): Promise<void>;
}

/** Appends versions 1..count of one actor and returns them as recorded. */
export const appendHistory = async (
  store: EventStore,
  count: number,
  actorId: string = randomUUID(),
): Promise<RecordedEvent[]> => {
  const recorded: RecordedEvent[] = [];
  for (let version = 1; version <= count; version++) {
    const event = demoEvent({ actorId, version, data: { step: version } });
    const { position } = await store.append(event);
    recorded.push({ ...event, position });
  }
  return recorded;
};

const drain = async <T>(iterable: AsyncIterable<T>): Promise<T[]> => {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
};

const expectIncreasing = (positions: readonly number[]): void => {
  for (let i = 1; i < positions.length; i++) expect(positions[i]).toBeGreaterThan(positions[i - 1]!);
};

/** Settles within `ms` or fails the test, so a subscription that never ends cannot hang it. */
const within = async <T>(promise: Promise<T>, ms: number, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
};

/** Drives a subscription in the background, keeping its batches and how it ended. */
const collect = (
  subscription: EventSubscription,
): { batches: RecordedEvent[][]; events: () => RecordedEvent[]; ended: Promise<unknown> } => {
  const batches: RecordedEvent[][] = [];
  const ended = (async () => {
    for await (const batch of subscription) batches.push(batch);
  })().then(
    () => undefined,
    (e: unknown) => e,
  );
  return { batches, events: () => batches.flat(), ended };
};

const waitForCount = async (events: () => RecordedEvent[], count: number): Promise<void> => {
  await vi.waitFor(() => expect(events().length).toBeGreaterThanOrEqual(count), { timeout: 10_000, interval: 5 });
};

/**
 * The promises of the EventStore port (events/eventStore.ts), as one suite any
 * implementation must pass. `factory` must give a fresh, empty store per call.
 */
export const testEventStoreContract = (name: string, factory: () => Promise<EventStoreUnderTest>): void => {
  describe(`EventStore contract: ${name}`, () => {
    let store: EventStore;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      const made = await factory();
      store = made.store;
      cleanup = made.cleanup;
    });

    afterEach(async () => {
      await cleanup?.();
      cleanup = undefined;
    });

    describe('append', () => {
      it('stores version 1 of a new actor and returns its position', async () => {
        const event = demoEvent();
        const result = await store.append(event);
        expect(result.version).toBe(1);
        expect(result.position).toBeGreaterThan(0);
        expect(await store.readStream('demo', event.actorId)).toEqual([{ ...event, position: result.position }]);
        expect(await store.lastPosition()).toBe(result.position);
      });

      it('refuses a wrong version with VersionConflictError and stores nothing', async () => {
        const fresh = demoEvent({ version: 2 });
        await expect(store.append(fresh)).rejects.toBeInstanceOf(VersionConflictError);
        await expect(store.append(fresh)).rejects.toMatchObject({
          stream: `demo.${fresh.actorId}`,
          expected: 1,
          actual: 0,
          code: 'VERSION_CONFLICT',
        });
        expect(await store.readStream('demo', fresh.actorId)).toEqual([]);

        const history = await appendHistory(store, 1);
        const actorId = history[0]!.actorId;
        const before = await store.lastPosition();
        await expect(store.append(demoEvent({ actorId, version: 1 }))).rejects.toMatchObject({
          name: 'VersionConflictError',
          expected: 0,
          actual: 1,
        });
        await expect(store.append(demoEvent({ actorId, version: 3 }))).rejects.toMatchObject({
          name: 'VersionConflictError',
          expected: 2,
          actual: 1,
        });
        expect(await store.readStream('demo', actorId)).toEqual(history);
        expect(await store.lastPosition()).toBe(before);
      });

      it('counts versions per actor and positions globally, always increasing', async () => {
        const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
        const order = [a, b, a, c, b, a];
        const versions = new Map<string, number>();
        const results = [];
        for (const actorId of order) {
          const version = (versions.get(actorId!) ?? 0) + 1;
          versions.set(actorId!, version);
          results.push(await store.append(demoEvent({ actorId, version })));
        }
        expect(results.map((r) => r.version)).toEqual([1, 1, 2, 1, 2, 3]);
        expectIncreasing(results.map((r) => r.position));
        expect(await store.lastPosition()).toBe(results.at(-1)!.position);
        expect((await store.readStream('demo', a!)).map((e) => e.version)).toEqual([1, 2, 3]);
        expect((await store.readStream('demo', b!)).map((e) => e.version)).toEqual([1, 2]);
      });

      it('lets exactly one of two concurrent appends at the same version win', async () => {
        const actorId = randomUUID();
        const contenders = [demoEvent({ actorId }), demoEvent({ actorId })];
        const settled = await Promise.allSettled(contenders.map((e) => store.append(e)));
        const won = settled.filter((s) => s.status === 'fulfilled');
        const lost = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(1);
        expect(lost[0]!.reason).toBeInstanceOf(VersionConflictError);
        const stored = await store.readStream('demo', actorId);
        expect(stored).toHaveLength(1);
        expect(contenders.map((e) => e.id)).toContain(stored[0]!.id);
      });

      it('lets exactly one of many concurrent appends to an existing actor win', async () => {
        const [first] = await appendHistory(store, 1);
        const actorId = first!.actorId;
        const settled = await Promise.allSettled(
          Array.from({ length: 5 }, () => store.append(demoEvent({ actorId, version: 2 }))),
        );
        expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(1);
        for (const s of settled) {
          if (s.status === 'rejected') expect(s.reason).toBeInstanceOf(VersionConflictError);
        }
        expect((await store.readStream('demo', actorId)).map((e) => e.version)).toEqual([1, 2]);
      });
    });

    describe('idempotency key', () => {
      it('reports a second append with the same key as DuplicateEventError naming the first position', async () => {
        const key = `req-${randomUUID()}`;
        const event = demoEvent();
        const first = await store.append(event, { idempotencyKey: key });

        // The same request retried: the version is stale by now, yet it is a duplicate.
        const retried = store.append(event, { idempotencyKey: key });
        await expect(retried).rejects.toBeInstanceOf(DuplicateEventError);
        await expect(store.append(event, { idempotencyKey: key })).rejects.toMatchObject({
          idempotencyKey: key,
          position: first.position,
          code: 'DUPLICATE',
        });
        // A valid next version under a used key, and another actor under it: duplicates too.
        await expect(
          store.append(demoEvent({ actorId: event.actorId, version: 2 }), { idempotencyKey: key }),
        ).rejects.toMatchObject({ name: 'DuplicateEventError', position: first.position });
        await expect(store.append(demoEvent(), { idempotencyKey: key })).rejects.toMatchObject({
          name: 'DuplicateEventError',
          position: first.position,
        });

        expect(await store.readStream('demo', event.actorId)).toEqual([{ ...event, position: first.position }]);
        expect(await store.lastPosition()).toBe(first.position);
        const next = await store.append(demoEvent({ actorId: event.actorId, version: 2 }), {
          idempotencyKey: `req-${randomUUID()}`,
        });
        expect(next.version).toBe(2);
      });

      it('stores the first of two concurrent appends with one key and reports the other as duplicate', async () => {
        const key = `req-${randomUUID()}`;
        const event = demoEvent();
        const settled = await Promise.allSettled([
          store.append(event, { idempotencyKey: key }),
          store.append(event, { idempotencyKey: key }),
        ]);
        const won = settled.filter((s): s is PromiseFulfilledResult<{ position: number; version: number }> => s.status === 'fulfilled');
        const lost = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost[0]!.reason).toBeInstanceOf(DuplicateEventError);
        expect(lost[0]!.reason).toMatchObject({ position: won[0]!.value.position });
        expect(await store.readStream('demo', event.actorId)).toHaveLength(1);
      });

      it('stores events with different keys', async () => {
        const actorId = randomUUID();
        await store.append(demoEvent({ actorId }), { idempotencyKey: `req-${randomUUID()}` });
        await store.append(demoEvent({ actorId, version: 2 }), { idempotencyKey: `req-${randomUUID()}` });
        expect(await store.readStream('demo', actorId)).toHaveLength(2);
      });
    });

    describe('readStream and readLast', () => {
      it('reads an actor from a version on', async () => {
        const history = await appendHistory(store, 5);
        const actorId = history[0]!.actorId;
        await appendHistory(store, 2);
        expect(await store.readStream('demo', actorId)).toEqual(history);
        expect(await store.readStream('demo', actorId, 1)).toEqual(history);
        expect(await store.readStream('demo', actorId, 3)).toEqual(history.slice(2));
        expect(await store.readStream('demo', actorId, 5)).toEqual(history.slice(4));
        expect(await store.readStream('demo', actorId, 6)).toEqual([]);
      });

      it('gives [] and undefined for an unknown actor', async () => {
        await appendHistory(store, 2);
        expect(await store.readStream('demo', randomUUID())).toEqual([]);
        expect(await store.readStream('nosuchkind', randomUUID())).toEqual([]);
        expect(await store.readLast('demo', randomUUID())).toBeUndefined();
      });

      it('never treats an id as a pattern', async () => {
        await appendHistory(store, 2);
        for (const id of ['*', '>', 'a.b']) {
          expect(await store.readStream('demo', id)).toEqual([]);
          expect(await store.readLast('demo', id)).toBeUndefined();
        }
      });

      it('reads the last event of an actor', async () => {
        const history = await appendHistory(store, 3);
        await appendHistory(store, 1);
        expect(await store.readLast('demo', history[0]!.actorId)).toEqual(history[2]);
      });
    });

    describe('readAll', () => {
      it('yields nothing from an empty store', async () => {
        expect(await drain(store.readAll())).toEqual([]);
      });

      it('covers every event in position order, in batches no larger than batchSize', async () => {
        const all = [...(await appendHistory(store, 4)), ...(await appendHistory(store, 3))].sort(
          (x, y) => x.position - y.position,
        );
        const batches = await drain(store.readAll({ batchSize: 3 }));
        for (const batch of batches) {
          expect(batch.length).toBeGreaterThan(0);
          expect(batch.length).toBeLessThanOrEqual(3);
        }
        expect(batches.flat()).toEqual(all);
        expect((await drain(store.readAll())).flat()).toEqual(all);
        expect((await drain(store.readAll({ batchSize: 1 }))).map((b) => b.length)).toEqual(all.map(() => 1));
      });

      it('starts at `from`', async () => {
        const all = await appendHistory(store, 6);
        expect((await drain(store.readAll({ from: all[2]!.position, batchSize: 2 }))).flat()).toEqual(all.slice(2));
        expect((await drain(store.readAll({ from: all[5]!.position }))).flat()).toEqual(all.slice(5));
        expect(await drain(store.readAll({ from: all[5]!.position + 1 }))).toEqual([]);
      });

      it('ends at the end as it was when the read began', async () => {
        const all = await appendHistory(store, 7);
        const reading = store.readAll({ batchSize: 2 })[Symbol.asyncIterator]();
        const first = await reading.next();
        expect(first.done).toBe(false);
        await appendHistory(store, 3);
        const rest: RecordedEvent[][] = [];
        for (let r = await reading.next(); !r.done; r = await reading.next()) rest.push(r.value);
        expect([...(first.value as RecordedEvent[]), ...rest.flat()]).toEqual(all);
      });
    });

    describe('readHeads', () => {
      it('yields nothing from an empty store', async () => {
        expect(await drain(store.readHeads())).toEqual([]);
      });

      it('yields exactly the last event of each actor, in position order', async () => {
        const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
        const versions = new Map<string, number>();
        const last = new Map<string, RecordedEvent>();
        for (const actorId of [a, b, a, c, a, c]) {
          const version = (versions.get(actorId!) ?? 0) + 1;
          versions.set(actorId!, version);
          const event = demoEvent({ actorId, version });
          last.set(actorId!, { ...event, position: (await store.append(event)).position });
        }
        const heads = await drain(store.readHeads());
        expect(heads).toEqual([...last.values()].sort((x, y) => x.position - y.position));
        for (const head of heads) expect(await store.readLast('demo', head.actorId)).toEqual(head);
      });
    });

    describe('subscribe', () => {
      it('yields the events from `from` on, then those appended later, then ends on close()', async () => {
        const existing = await appendHistory(store, 3);
        const subscription = store.subscribe(existing[1]!.position, { batchSize: 2 });
        const got = collect(subscription);
        await waitForCount(got.events, 2);
        const later = [...(await appendHistory(store, 2)), ...(await appendHistory(store, 1))];
        await waitForCount(got.events, 5);
        expect(got.events()).toEqual([...existing.slice(1), ...later]);
        for (const batch of got.batches) {
          expect(batch.length).toBeGreaterThan(0);
          expect(batch.length).toBeLessThanOrEqual(2);
        }
        await subscription.close();
        expect(await within(got.ended, 5_000, 'the closed subscription')).toBeUndefined();
      });

      it('respects batchSize over a backlog', async () => {
        const all = [...(await appendHistory(store, 13)), ...(await appendHistory(store, 12))];
        const subscription = store.subscribe(1, { batchSize: 4 });
        const got = collect(subscription);
        await waitForCount(got.events, all.length);
        await subscription.close();
        expect(await within(got.ended, 5_000, 'the closed subscription')).toBeUndefined();
        expect(got.events()).toEqual(all.sort((x, y) => x.position - y.position));
        expect(got.batches.every((b) => b.length > 0 && b.length <= 4)).toBe(true);
      });

      it('from past the end yields only new events', async () => {
        await appendHistory(store, 2);
        const subscription = store.subscribe((await store.lastPosition()) + 1);
        const got = collect(subscription);
        const later = await appendHistory(store, 2);
        await waitForCount(got.events, 2);
        await subscription.close();
        await within(got.ended, 5_000, 'the closed subscription');
        expect(got.events()).toEqual(later);
      });

      it('ends at once when closed before or while waiting', async () => {
        await appendHistory(store, 1);
        const early = store.subscribe(1);
        await early.close();
        expect(await within(drain(early), 5_000, 'a subscription closed before use')).toEqual([]);

        const waiting = store.subscribe((await store.lastPosition()) + 1);
        const got = collect(waiting);
        await new Promise((r) => setTimeout(r, 50));
        await waiting.close();
        expect(await within(got.ended, 5_000, 'a waiting subscription')).toBeUndefined();
        expect(got.batches).toEqual([]);
      });

      it('with a durable name starts at `from` whatever the durable remembered', async () => {
        const durable = `d_${randomUUID().slice(0, 8)}`;
        const first = await appendHistory(store, 3);
        const one = store.subscribe(1, { durable });
        const got1 = collect(one);
        await waitForCount(got1.events, 3);
        one.ack(first[2]!.position);
        await one.close();
        await within(got1.ended, 5_000, 'the closed subscription');
        expect(got1.events()).toEqual(first);

        const second = await appendHistory(store, 2);
        const two = store.subscribe(second[0]!.position, { durable });
        const got2 = collect(two);
        await waitForCount(got2.events, 2);
        await two.close();
        await within(got2.ended, 5_000, 'the closed subscription');
        expect(got2.events()).toEqual(second);

        // Rewind: the checkpoint says position 2 was not processed after all.
        const three = store.subscribe(first[1]!.position, { durable, batchSize: 2 });
        const got3 = collect(three);
        await waitForCount(got3.events, 4);
        three.ack(second[1]!.position);
        await three.close();
        await within(got3.ended, 5_000, 'the closed subscription');
        expect(got3.events()).toEqual([...first.slice(1), ...second]);
      });
    });

    describe('lastPosition', () => {
      it('is 0 for an empty store and the newest position after appends', async () => {
        expect(await store.lastPosition()).toBe(0);
        const history = await appendHistory(store, 3);
        expect(await store.lastPosition()).toBe(history[2]!.position);
      });
    });

    describe('round trip', () => {
      it('gives back every field exactly: nested JSON, unicode, numbers', async () => {
        const event = demoEvent({
          type: 'demo.exotic',
          schemaVersion: 3,
          causationId: randomUUID(),
          commandId: `req-${randomUUID()}`,
          previousState: 'running',
          state: 'done',
          final: true,
          summary: { 'ключ': 'значение', pi: 3.141592653589793, nested: { ok: true } },
          data: {
            text: 'Grüße, 世界 🌍 e\u0301 \u0000 \u2028 "quoted" \\ back\nslash',
            lone: '\ud800',
            numbers: [0, 1, -1, 0.1, -2.5e-7, 1.7976931348623157e308, 5e-324, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER],
            nested: { deep: [{ deeper: [null, true, false, '', [], {}] }] },
            empty: {},
          },
        });
        const { position } = await store.append(event);
        const expected = { ...event, position };
        expect(await store.readStream('demo', event.actorId)).toEqual([expected]);
        expect(await store.readLast('demo', event.actorId)).toEqual(expected);
        expect((await drain(store.readAll())).flat()).toEqual([expected]);
      });

      it('keeps keys that are special in JavaScript objects', async () => {
        const special = JSON.parse('{"__proto__": {"x": 1}, "constructor": "c", "toString": 2}') as Record<string, unknown>;
        const event = demoEvent({ summary: special, data: special });
        const { position } = await store.append(event);
        const [read] = await store.readStream('demo', event.actorId);
        expect(Object.keys(read!.summary).sort()).toEqual(['__proto__', 'constructor', 'toString']);
        expect(Object.keys(read!.data as object).sort()).toEqual(['__proto__', 'constructor', 'toString']);
        expect(read).toEqual({ ...event, position });
      });

      it('gives back any JSON data exactly (property)', async () => {
        // JSON cannot tell -0 from 0; values are taken as JSON would give them back.
        const json = fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as unknown);
        await fc.assert(
          fc.asyncProperty(json, fc.dictionary(fc.string(), json, { maxKeys: 4 }), async (data, summary) => {
            const event = demoEvent({ data, summary });
            const { position } = await store.append(event);
            expect(await store.readLast('demo', event.actorId)).toEqual({ ...event, position });
          }),
          { numRuns: 40 },
        );
      });
    });
  });
};
