import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type Consumer,
  type ConsumerInfo,
  type ConsumerMessages,
  type JsMsg,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { tokenPattern, type RecordedEvent } from '../../events/envelope.js';
import { StoreUnavailableError, ValidationError } from '../../events/errors.js';
import type { EventSubscription, SubscribeOptions } from '../../events/eventStore.js';
import { toStoreError } from './errors.js';
import { inactiveThresholdMs, pullSize } from './orderedRead.js';
import { allActorsSubject } from './subjects.js';
import type { StoreContext } from './storeContext.js';

const defaultBatchSize = 500;
/**
 * Unacked messages come back after this. The reader never sees them twice (it skips what it
 * has yielded), so this only bounds the redelivery traffic of a slow acker.
 */
const ackWaitMs = 60_000;
/**
 * Delivered messages kept for a later ack(). A reader that never acks must not hold every
 * event in memory; forgetting old ones only delays the server's view until the next ack,
 * which (AckPolicy.All) covers everything before it.
 */
const maxUnacked = 10_000;
/**
 * Longest wait for a message the server said was coming (the last delivery counted more
 * pending) before the batch in hand is handed on anyway. The count is not a promise: nats-server
 * 2.9.10 was seen reporting 2 pending on every delivery up to the stream's end, and a consumer
 * with a cap on unacked messages, another reader of the same durable consumer, or a redelivery
 * the reader skips leave it unkept as well. A batch waiting for it would wait for the next event
 * to be appended, which may never come.
 */
const promisedMessageWaitMs = 50;
/**
 * A batch older than this (since its first event) waits for no promised message any more, it
 * only takes what is already at hand: a count that stays too high under steady traffic would
 * otherwise grow every batch to its full size, a second of lag at 2,000 events/s.
 */
const batchAgeMs = 100;

/** Whether an existing durable consumer would deliver exactly from `from` on, as we would make it. */
const resumesAt = (info: ConsumerInfo, from: number, filter: string): boolean =>
  info.config.ack_policy === AckPolicy.All &&
  info.config.filter_subject === filter &&
  info.config.deliver_subject === undefined &&
  info.delivered.stream_seq === from - 1 &&
  info.num_ack_pending === 0;

const consumerInfo = async (ctx: StoreContext, name: string): Promise<ConsumerInfo | undefined> => {
  try {
    return await (await ctx.manager()).consumers.info(ctx.stream, name);
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.ConsumerNotFound) return undefined;
    throw e;
  }
};

/**
 * The durable pull consumer `name`, positioned at `from`. The caller's checkpoint is the
 * truth: a consumer that remembers another position (or has deliveries in flight, which the
 * server would only redeliver after the ack wait) is deleted and made again, since 2.9
 * servers cannot reset a consumer in place.
 */
const openDurable = async (ctx: StoreContext, name: string, from: number): Promise<Consumer> => {
  const filter = allActorsSubject(ctx.subjectPrefix);
  const jsm = await ctx.manager();
  const info = await consumerInfo(ctx, name);
  if (!info || !resumesAt(info, from, filter)) {
    if (info) await jsm.consumers.delete(ctx.stream, name);
    await jsm.consumers.add(ctx.stream, {
      durable_name: name,
      ack_policy: AckPolicy.All,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: from,
      filter_subject: filter,
      // A reader acks when it has checkpointed, maybe rarely; it must not stall meanwhile.
      max_ack_pending: -1,
      ack_wait: nanos(ackWaitMs),
    });
  }
  return ctx.js.consumers.get(ctx.stream, name);
};

/**
 * Whether `promise` settles within `ms`, or, with `ms` 0, before the event loop's next turn
 * (it was as good as ready).
 */
const settlesWithin = (promise: Promise<unknown>, ms: number): Promise<boolean> =>
  new Promise((resolve) => {
    const timer = ms > 0 ? setTimeout(() => resolve(false), ms) : setImmediate(() => resolve(false));
    const settled = (): void => {
      if (ms > 0) clearTimeout(timer as NodeJS.Timeout);
      else clearImmediate(timer as NodeJS.Immediate);
      resolve(true);
    };
    promise.then(settled, settled);
  });

/** A live subscription over an ordered consumer, or over a durable pull consumer when named. */
class JetStreamSubscription implements EventSubscription {
  private closed = false;
  private iterated = false;
  private consumer: Consumer | undefined;
  private messages: ConsumerMessages | undefined;
  private releasing: Promise<void> = Promise.resolve();
  /** Delivered, not yet acked messages of a durable consumer, in stream order. */
  private unacked: JsMsg[] = [];
  /** Stream sequence of the next event to yield; anything lower is a redelivery. */
  private next: number;
  private readonly batchSize: number;

  constructor(
    private readonly ctx: StoreContext,
    from: number,
    private readonly durable: string | undefined,
    batchSize: number | undefined,
  ) {
    this.next = Math.max(1, from);
    this.batchSize = Math.max(1, batchSize ?? defaultBatchSize);
  }

  ack(position: number): void {
    let last = -1;
    for (let i = 0; i < this.unacked.length && this.unacked[i]!.seq <= position; i++) last = i;
    if (last < 0) return;
    const [msg] = this.unacked.splice(0, last + 1).slice(-1);
    try {
      // AckPolicy.All: acking this message acks every earlier one.
      msg?.ack();
    } catch {
      // The connection is gone. The durable consumer only mirrors the reader's own
      // checkpoint, which stays the truth, so a lost ack costs nothing but a stale lag figure.
    }
  }

  close(): Promise<void> {
    this.closed = true;
    return this.release();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<RecordedEvent[]> {
    if (this.iterated) throw new Error('a subscription can be iterated only once');
    this.iterated = true;
    try {
      if (this.closed) return;
      const messages = await this.open().catch((e: unknown) => {
        throw toStoreError(e, 'subscribing to the event stream');
      });
      if (this.closed) return;
      let batch: RecordedEvent[] = [];
      const delivered = messages[Symbol.asyncIterator]();
      // The next delivery asked for and not yet taken: a batch that ends without it keeps it.
      let asked: Promise<IteratorResult<JsMsg>> | undefined;
      const nextDelivery = (): Promise<IteratorResult<JsMsg>> => (asked ??= delivered.next());
      // Whether the last delivery (of any kind) said the server had more after it.
      let morePending = false;
      // When the first event of the batch in hand came.
      let batchStarted = 0;
      for (;;) {
        // Whether a batch ends is decided here, where the reader waits, and nowhere else: a
        // message that adds nothing to the batch (a redelivery, one that does not decode) can
        // then never leave a batch waiting for the next event to be appended. A batch takes
        // every message already at hand: under load the client pulls ahead, and the messages
        // the server sent while the last batch was being written each say "pending 0" as of
        // their own sending, so cutting at each of them made batches of a few dozen events, a
        // transaction each. When the server said more was coming, the batch waits for it, but
        // only for so long (promisedMessageWaitMs, batchAgeMs).
        const waitMs = morePending ? Math.min(promisedMessageWaitMs, batchStarted + batchAgeMs - performance.now()) : 0;
        if (batch.length > 0 && !(await settlesWithin(nextDelivery(), Math.max(0, waitMs)))) {
          const out = batch;
          batch = [];
          yield out;
          if (this.closed) return;
        }
        const result = await nextDelivery();
        asked = undefined;
        if (result.done) break;
        const m = result.value;
        if (this.closed) return;
        morePending = m.info.pending > 0;
        if (m.seq < this.next) continue;
        this.next = m.seq + 1;
        if (this.durable !== undefined) {
          this.unacked.push(m);
          if (this.unacked.length > 2 * maxUnacked) this.unacked.splice(0, this.unacked.length - maxUnacked);
        }
        const event = this.ctx.decode(m.data, m.seq);
        if (event && batch.push(event) === 1) batchStarted = performance.now();
        if (batch.length >= this.batchSize) {
          const out = batch;
          batch = [];
          yield out;
          if (this.closed) return;
        }
      }
      if (!this.closed) throw new StoreUnavailableError('the subscription ended: the connection closed');
    } catch (e) {
      throw toStoreError(e, 'reading the event stream');
    } finally {
      this.closed = true;
      await this.release();
    }
  }

  private async open(): Promise<ConsumerMessages> {
    if (this.durable !== undefined) {
      this.consumer = await openDurable(this.ctx, this.durable, this.next);
      this.messages = await this.consumer.consume({
        max_messages: pullSize(this.batchSize),
        // Someone deleting our durable consumer must end the subscription, not stall it.
        abort_on_missing_resource: true,
      });
    } else {
      this.consumer = await this.ctx.js.consumers.get(this.ctx.stream, {
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: this.next,
        inactive_threshold: inactiveThresholdMs,
      });
      this.messages = await this.consumer.consume({ max_messages: pullSize(this.batchSize) });
    }
    // close() may have run while the consumer was being made; release what it could not see.
    if (this.closed) await this.release();
    return this.messages;
  }

  /** Stops the message flow and drops an ephemeral consumer; safe to call more than once. */
  private release(): Promise<void> {
    // stop(), not close(): close() waits for the iterator to be driven to its end.
    this.messages?.stop();
    const consumer = this.durable === undefined ? this.consumer : undefined;
    if (consumer) {
      this.consumer = undefined;
      this.releasing = consumer.delete().then(
        () => undefined,
        () => undefined,
      );
    }
    return this.releasing;
  }
}

/** Every event from `from` on, then new ones as they are appended, in non-empty batches. */
export const subscribe = (ctx: StoreContext, from: number, options: SubscribeOptions = {}): EventSubscription => {
  if (options.durable !== undefined && !tokenPattern.test(options.durable)) {
    throw new ValidationError(`durable consumer name ${JSON.stringify(options.durable)} is not valid`);
  }
  return new JetStreamSubscription(ctx, from, options.durable, options.batchSize);
};
