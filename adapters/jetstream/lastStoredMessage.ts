import type { StoredMsg } from '@nats-io/jetstream';
import { TimeoutError } from '@nats-io/transport-node';
import { StoreUnavailableError } from '../../events/errors.js';
import { decodeEvent } from './decodeEvent.js';
import { toStoreError } from './errors.js';
import type { Head } from './headCache.js';
import type { StoreContext } from './storeContext.js';

/**
 * The newest message on a subject, or null when there is none, by Direct Get. On a single
 * server (or from the leader) this reads its own writes; replicas or mirrors answering
 * Direct Get may lag, and the expected-sequence check on publish still catches that.
 */
export const lastStoredMessage = async (ctx: StoreContext, subject: string): Promise<StoredMsg | null> => {
  try {
    return await (await ctx.manager()).direct.getMessage(ctx.stream, { last_by_subj: subject });
  } catch (e) {
    // A Direct Get on a stream that does not exist gets no answer at all, so a timeout here
    // means either; asking which would cost a second timeout when the server is gone.
    const what = e instanceof TimeoutError ? ` (is the server up, and does stream ${ctx.stream} exist?)` : '';
    throw toStoreError(e, `reading the last event of ${subject}${what}`);
  }
};

/** Version and stream sequence of the actor's newest event, from the server; notes it in the cache. */
export const fetchHead = async (ctx: StoreContext, subject: string): Promise<Head> => {
  const last = await lastStoredMessage(ctx, subject);
  if (!last) return { version: 0, seq: 0 };
  let version: number;
  try {
    // Only the version matters here, so no upcasting: a missing upcaster must not block writes.
    version = decodeEvent(last.data, last.seq).version;
  } catch (e) {
    throw new StoreUnavailableError(
      `the last event of ${subject} (position ${last.seq}) does not decode, so its version is unknown`,
      { cause: e },
    );
  }
  const head = { version, seq: last.seq };
  ctx.heads.note(subject, head);
  return head;
};
