import { randomUUID } from 'node:crypto';
import { AckPolicy, DeliverPolicy, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { EventSubscription, RecordedEvent } from '../../events/index.js';
import { appendHistory } from '../../test/contracts/eventStore.contract.js';
import { testStream } from '../../test/harness/testNames.js';
import { connectNats } from './connection.js';
import { ensureEventStream } from './eventStream.js';
import { createJetStreamEventStore, type JetStreamEventStore } from './jetstreamEventStore.js';
import { allActorsSubject } from './subjects.js';

/*
 * How a live subscription cuts its batches, on a real nats-server. Each message the server
 * delivers says how many more it had for the consumer ("pending"); a batch may wait for those,
 * but the count is no promise: it was seen staying at 2 up to the stream's end (the projector's
 * batch then waited for an event that never came, and the projections stopped short of the
 * stream's end). Here the server is made to keep the promise unkept on purpose, by a cap on the
 * consumer's unacknowledged messages: it delivers 10, says more are pending, and sends no more
 * until an ack.
 */

const names = testStream();
let nc: NatsConnection;
let jsm: JetStreamManager;
let store: JetStreamEventStore;

beforeAll(async () => {
  nc = await connectNats(inject('natsUrl'), 'daqflow-subscribe-spec');
  jsm = await jetstreamManager(nc);
  await ensureEventStream(jsm, names);
  store = createJetStreamEventStore({ nc, ...names });
});

afterAll(async () => {
  await store?.close();
  await jsm?.streams.delete(names.stream).catch(() => undefined);
  await nc?.close();
});

/** Collects batches until `count` events came, failing when they do not within `ms`. */
const collect = async (
  batches: AsyncIterator<RecordedEvent[]>,
  count: number,
  ms: number,
): Promise<{ events: RecordedEvent[]; batches: number }> => {
  const events: RecordedEvent[] = [];
  let n = 0;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${events.length} of ${count} events were handed on within ${ms} ms`)), ms);
  });
  try {
    while (events.length < count) {
      const next = await Promise.race([batches.next(), late]);
      if (next.done) throw new Error(`the subscription ended after ${events.length} events`);
      expect(next.value.length).toBeGreaterThan(0);
      events.push(...next.value);
      n++;
    }
  } finally {
    clearTimeout(timer);
  }
  return { events, batches: n };
};

/** A durable consumer as the subscription makes it, but with at most `cap` unacknowledged messages. */
const cappedDurable = async (from: number, cap: number): Promise<string> => {
  const durable = `capped_${randomUUID().slice(0, 8)}`;
  await jsm.consumers.add(names.stream, {
    durable_name: durable,
    ack_policy: AckPolicy.All,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: from,
    filter_subject: allActorsSubject(names.subjectPrefix),
    max_ack_pending: cap,
  });
  return durable;
};

describe('a live subscription', () => {
  it('hands on its batch when the messages the server said were pending do not come', async () => {
    const history = await appendHistory(store, 30);
    const from = history[0]!.position;
    const durable = await cappedDurable(from, 10);
    let subscription: EventSubscription | undefined;
    try {
      // The consumer is at `from` with nothing in flight, so the subscription takes it as it is.
      subscription = store.subscribe(from, { durable, batchSize: 500 });
      const batches = subscription[Symbol.asyncIterator]();
      const first = await collect(batches, 10, 10_000);
      expect(first.events.map((e) => e.position)).toEqual(history.slice(0, 10).map((e) => e.position));
      const info = await jsm.consumers.info(names.stream, durable);
      // What the tenth message said: 20 more to come, while the server holds them back.
      expect(info.num_pending).toBe(20);
      expect(info.num_ack_pending).toBe(10);
      // The reader acks what it has handled; the next 10 come, and are handed on in turn.
      subscription.ack(history[9]!.position);
      const second = await collect(batches, 10, 10_000);
      expect(second.events.map((e) => e.position)).toEqual(history.slice(10, 20).map((e) => e.position));
    } finally {
      await subscription?.close();
      await jsm.consumers.delete(names.stream, durable).catch(() => undefined);
    }
  });

  it('takes every event already in the stream into few batches', async () => {
    const history = await appendHistory(store, 600);
    const from = history[0]!.position;
    const subscription = store.subscribe(from, { batchSize: 1_000 });
    try {
      const got = await collect(subscription[Symbol.asyncIterator](), history.length, 20_000);
      expect(got.events.map((e) => e.position)).toEqual(history.map((e) => e.position));
      // Cut at every "pending 0" or pull boundary this would be dozens; how few exactly
      // depends on how busy the machine is.
      expect(got.batches).toBeLessThan(history.length / 10);
    } finally {
      await subscription.close();
    }
  });
});
