import { DeliverPolicy, type JsMsg } from '@nats-io/jetstream';
import { StoreUnavailableError } from '../../events/errors.js';
import { toStoreError } from './errors.js';
import type { StoreContext } from './storeContext.js';

export interface OrderedReadOptions {
  /** One subject filter (2.9 servers take no lists); none = the whole stream. */
  readonly filter?: string;
  /** 'last_per_subject' delivers only each subject's newest message. */
  readonly deliver: 'from' | 'last_per_subject';
  /** First stream sequence to deliver with `deliver: 'from'`. */
  readonly from?: number;
  /** Stop once a message at or past this stream sequence is delivered. */
  readonly end?: number;
  readonly batchSize: number;
  /** What is being read, for error messages. */
  readonly what: string;
}

/** Ephemeral consumers (ordered reads, unnamed subscriptions) are dropped by the server this long after their reader went away. */
export const inactiveThresholdMs = 30_000;

/** Messages asked for per pull: small batches to the caller need not mean small pulls. */
export const pullSize = (batchSize: number): number => Math.min(Math.max(batchSize, 256), 1_000);

/**
 * Raw messages of a finite read through an ordered consumer, in batches of at most
 * `batchSize`: what the consumer had pending when it was made, cut at `end` when given. The
 * consumer is deleted when the read ends or is left.
 */
export async function* orderedRead(ctx: StoreContext, options: OrderedReadOptions): AsyncGenerator<JsMsg[]> {
  const consumer = await ctx.js.consumers
    .get(ctx.stream, {
      ...(options.filter !== undefined && { filter_subjects: options.filter }),
      ...(options.deliver === 'last_per_subject'
        ? { deliver_policy: DeliverPolicy.LastPerSubject }
        : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.max(1, options.from ?? 1) }),
      inactive_threshold: inactiveThresholdMs,
    })
    .catch((e: unknown) => {
      throw toStoreError(e, options.what);
    });
  let finished = false;
  try {
    // The server counts what the new consumer will deliver (for last_per_subject: one per
    // subject) when it makes it; reading that many is the read's natural end, and an empty
    // range needs no pull at all.
    let remaining = (await consumer.info(true)).num_pending;
    if (remaining === 0) {
      finished = true;
      return;
    }
    const messages = await consumer.consume({ max_messages: pullSize(options.batchSize) });
    let batch: JsMsg[] = [];
    try {
      for await (const m of messages) {
        batch.push(m);
        remaining--;
        finished =
          remaining <= 0 || m.info.pending === 0 || (options.end !== undefined && m.seq >= options.end);
        if (finished || batch.length >= options.batchSize) {
          const out = batch;
          batch = [];
          yield out;
        }
        if (finished) break;
      }
    } catch (e) {
      throw toStoreError(e, options.what);
    } finally {
      // stop() rather than close(): close() waits for an iterator nobody may drive any more.
      messages.stop();
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
  // The client ends the iteration quietly when the connection closes; a short read must not
  // pass for a complete one.
  if (!finished) throw new StoreUnavailableError(`${options.what} was interrupted`);
}
