/**
 * The bsread ring buffer: the recent pulses of one stream, in pulse-id order, so that a writer
 * asked to start at pulse N still gets it (docs/acquisitions.md). The receiver `push`es every decoded
 * message; any number of readers `read` from a pulse id on, each at its own pace.
 *
 * Order. The buffer holds messages in strictly increasing pulse-id order, so that every reader
 * sees the same, stable sequence:
 * - a pulse id higher than the newest is stored; the ids skipped in between are counted in
 *   `pulseIdGaps` (they are missing from the stream: a writer records them as not present);
 * - a pulse id equal to one held, or to the newest, is a **duplicate**: dropped, the first copy kept,
 *   counted in `duplicates`;
 * - a pulse id lower than the newest that is not held (a late arrival, or a sender whose pulse id
 *   went backwards) is **out of order**: dropped and counted in `outOfOrder`. Inserting it would let
 *   readers that already went past it disagree with readers that had not. A sender restarted with
 *   lower pulse ids is therefore ignored until its ids pass the newest: the receiver should
 *   make a new buffer on such a restart.
 *
 * Bounds. After each push the oldest messages are evicted (`droppedOldest`) while there are more
 * than `maxMessages`, or while the held `wireBytes` exceed `maxBytes`, except that the newest
 * message is always kept, even when it alone is larger than `maxBytes`. The buffer holds references
 * to the messages only; it copies nothing.
 *
 * Readers. `read(from)` starts at the first held pulse ≥ `from`, or waits for it when `from` is in
 * the future. A `from` that is no longer servable (at or before a pulse already evicted, or before
 * the first pulse this buffer ever received) is refused at once with a {@link PulseGoneError}
 * (`during: 'start'`) instead of silently starting later. A reader that falls so far behind that a
 * pulse it has not read yet is evicted gets a `PulseGoneError` (`during: 'read'`) naming that
 * first lost pulse on its next `next()`: it never silently skips one. A reader opened with
 * `onLost` goes on instead from the oldest pulse still held: `onLost` is told of the pulses it
 * lost (the first and last pulse ids evicted unread, and how many) before the `next()` that
 * delivers the first message after them. Either way `readerLostPulses` counts them.
 *
 * Release. With `onRelease`, the buffer says when it has let go of a message for good: evicted,
 * and no reader holds it. A reader holds the message `next()` gave it until it calls `next()`
 * again, so it may await (open a file, wait for a writer) with the message in hand. A reader
 * ended by `return()` or an abort may still be using its message: that one is never released
 * (the GC takes it). Messages from `get()` are not held: read them at once; nor is one a reader
 * got from a `next()` it called again before it was done with it (overlapping calls): copy what
 * must outlive that. The receiver uses this to fill the buffers of big frames again (see
 * framePool.ts).
 */
import { DaqflowError, ValidationError } from '../../events/errors.js';
import type { BsreadMessage } from './bsreadMessage.js';

export interface RingBufferOptions {
  /** Most messages held (≥ 1). */
  readonly maxMessages: number;
  /** Most wire bytes held (≥ 1); the newest message is kept even when larger. */
  readonly maxBytes: number;
  /** Told of each message evicted that no reader holds any more (see Release above). */
  readonly onRelease?: (message: BsreadMessage) => void;
}

export interface RingBufferCounters {
  /** Messages handed to `push`, whatever became of them. */
  readonly received: number;
  /** Messages evicted as the oldest to keep within the bounds. */
  readonly droppedOldest: number;
  /** Messages the receiver could not decode (counted through `countMalformed`). */
  readonly malformed: number;
  /** Pulse ids missing between consecutive stored messages. */
  readonly pulseIdGaps: number;
  /** Messages dropped because their pulse id was already stored. */
  readonly duplicates: number;
  /** Messages dropped because their pulse id was below the newest and not held. */
  readonly outOfOrder: number;
  /** Wire bytes of the messages held now. */
  readonly bytes: number;
  /** Messages held now. */
  readonly messages: number;
  /** Pulse id of the oldest message held; null when empty. */
  readonly oldestPulseId: number | null;
  /** Pulse id of the newest message held; null when empty. */
  readonly newestPulseId: number | null;
  /** Readers open now. */
  readonly readers: number;
  /** Pulses evicted before a reader had read them, counted per reader (a reader ended by its loss counts one). */
  readonly readerLostPulses: number;
  /** The first pulse id this buffer ever stored (null before the first): nothing before it was ever held. */
  readonly firstPulseIdEver: number | null;
}

/** What `push` did with a message. */
export type PushOutcome = 'stored' | 'duplicate' | 'out_of_order' | 'closed';

/** Pulses a reader lost to the eviction: from the first to the last evicted unread, inclusive. */
export interface LostPulses {
  readonly from: number;
  readonly to: number;
  /** Messages evicted unread (ids the stream never had in between are not counted). */
  readonly count: number;
}

export interface ReadOptions {
  /** Aborting ends the reader: a pending and every later `next()` rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /**
   * Given: a reader the eviction overtakes goes on from the oldest pulse held, and this is called
   * with what it lost just before the next message is delivered (or the reader ends). Not given:
   * the reader ends with a {@link PulseGoneError}.
   */
  readonly onLost?: (lost: LostPulses) => void;
}

export interface RingBuffer {
  /** Stores a decoded message (see the order rules above); never throws for a well-formed message. */
  push(message: BsreadMessage): PushOutcome;
  /** Counts messages the receiver could not decode. */
  countMalformed(count?: number): void;
  /** The held message of that pulse, if any; not held for the caller (see Release above). */
  get(pulseId: number): BsreadMessage | undefined;
  /**
   * Messages in pulse order from the first held pulse ≥ `fromPulseId`, waiting for new ones at the
   * end. Throws a {@link PulseGoneError} at once when `fromPulseId` can no longer be served.
   * Ends (done) after `close()` once the held messages are read; `return()` (a `break` out of
   * `for await`) releases the reader.
   */
  read(fromPulseId: number, options?: ReadOptions): AsyncIterableIterator<BsreadMessage>;
  /** Throws the {@link PulseGoneError} `read(fromPulseId)` would throw, without opening a reader. */
  checkStart(fromPulseId: number): void;
  counters(): RingBufferCounters;
  /** No more pushes: readers read what is held, then end. */
  close(): void;
}

/** Why a pulse cannot be delivered: it left the buffer (or was never in it). */
export class PulseGoneError extends DaqflowError {
  override readonly name = 'PulseGoneError';
  readonly kind = 'PULSE_GONE';

  constructor(
    /** The first pulse that cannot be delivered. */
    readonly pulseId: number,
    /** The oldest pulse held when this was found (null when empty). */
    readonly oldestPulseId: number | null,
    /** `start`: refused by `read()`; `read`: the reader fell behind the eviction. */
    readonly during: 'start' | 'read',
    message: string,
  ) {
    super('WRONG_STATE', message, { kind: 'PULSE_GONE', pulseId, oldestPulseId, during });
  }
}

export const isPulseGoneError = (e: unknown): e is PulseGoneError => e instanceof PulseGoneError;

interface Waiter {
  readonly resolve: (result: IteratorResult<BsreadMessage>) => void;
  readonly reject: (error: unknown) => void;
}

interface ReaderState {
  /** Sequence number of the next message to deliver. */
  nextSeq: number;
  /** Messages below this pulse id are skipped, never delivered nor counted as lost. */
  readonly fromPulseId: number;
  /** Set when a message this reader still had to read was evicted. */
  lost: PulseGoneError | undefined;
  /** With `onLost`: the pulses lost since the last message delivered, not told yet. */
  skipped: { from: number; to: number; count: number } | undefined;
  readonly onLost: ((lost: LostPulses) => void) | undefined;
  /** Set when the read was aborted: every later `next()` rejects with it. */
  aborted: { readonly reason: unknown } | undefined;
  waiter: Waiter | undefined;
  finished: boolean;
  /** Sequence number of the message last delivered, until the next `next()` (see Release). */
  holding: number | undefined;
  /** Delivers to a pending `next()` what is available now (called after a push or close). */
  wake(): void;
}

const positiveInteger = (name: string, value: unknown): number => {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new ValidationError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
};

const checkPulseId = (pulseId: unknown): number => {
  if (typeof pulseId !== 'number' || !Number.isSafeInteger(pulseId) || pulseId < 0) {
    throw new ValidationError(`a pulse id must be a non-negative safe integer, got ${String(pulseId)}`);
  }
  return pulseId;
};

const describeBytes = (n: number): string =>
  n >= 1e9 ? `${(n / 1e9).toFixed(1)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${n} B`;

/**
 * A ring buffer of bsread messages keyed by pulse id; see the module comment for its rules.
 * Messages are kept in a fixed circular array of `maxMessages` slots, addressed by a sequence
 * number that grows by one per stored message; `get` and `read` find a pulse by binary search.
 */
export const createRingBuffer = (options: RingBufferOptions): RingBuffer => {
  const maxMessages = positiveInteger('maxMessages', options.maxMessages);
  const maxBytes = positiveInteger('maxBytes', options.maxBytes);
  const slots: (BsreadMessage | undefined)[] = new Array<BsreadMessage | undefined>(maxMessages);
  /** Sequence number of the oldest held message; `tailSeq` is one past the newest. */
  let headSeq = 0;
  let tailSeq = 0;
  let bytes = 0;
  let received = 0;
  let droppedOldest = 0;
  let malformed = 0;
  let pulseIdGaps = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let readerLostPulses = 0;
  /** The newest pulse id ever stored (kept when everything is evicted). */
  let newestEver: number | undefined;
  /** The first pulse id ever stored: nothing before it can be served. */
  let firstEver: number | undefined;
  /** The highest pulse id ever evicted: nothing at or before it can be served. */
  let lastEvicted: number | undefined;
  let closed = false;
  const readers = new Set<ReaderState>();
  const onRelease = options.onRelease;
  /**
   * Evicted messages still held by readers, by sequence number: how many hold each, and whether
   * one of them let go without saying it was done (then the message is never released).
   */
  const heldAfterEviction = new Map<number, { readonly message: BsreadMessage; holders: number; abandoned: boolean }>();
  /** Messages still in the buffer that a reader stopped holding without saying it was done: never released. */
  const abandoned = new Set<number>();

  /** The reader is done with the message it was given (`done`), or stops without saying (`!done`). */
  const letGo = (reader: ReaderState, done: boolean): void => {
    const seq = reader.holding;
    if (seq === undefined) return;
    reader.holding = undefined;
    const held = heldAfterEviction.get(seq);
    if (held === undefined) {
      if (!done && onRelease !== undefined && seq >= headSeq) abandoned.add(seq);
      return;
    }
    if (!done) held.abandoned = true;
    if (--held.holders > 0) return;
    heldAfterEviction.delete(seq);
    if (!held.abandoned) onRelease?.(held.message);
  };

  const at = (seq: number): BsreadMessage => {
    const m = slots[seq % maxMessages];
    if (m === undefined) throw new Error(`ring buffer: no message at sequence ${seq}`);
    return m;
  };

  /** Sequence number of the first held message with pulse id ≥ `pulseId` (`tailSeq` when none). */
  const lowerBound = (pulseId: number): number => {
    let lo = headSeq;
    let hi = tailSeq;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (at(mid).pulseId < pulseId) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };

  const oldestHeld = (): number | null => (headSeq < tailSeq ? at(headSeq).pulseId : null);

  const evictOldest = (): void => {
    const seq = headSeq;
    const message = at(seq);
    slots[seq % maxMessages] = undefined;
    headSeq++;
    bytes -= message.wireBytes;
    droppedOldest++;
    lastEvicted = message.pulseId;
    if (onRelease !== undefined) {
      let holders = 0;
      for (const reader of readers) if (reader.holding === seq) holders++;
      const wasAbandoned = abandoned.delete(seq);
      if (holders > 0) heldAfterEviction.set(seq, { message, holders, abandoned: wasAbandoned });
      else if (!wasAbandoned) onRelease(message);
    }
    for (const reader of readers) {
      if (reader.lost !== undefined || reader.nextSeq > seq) continue;
      if (message.pulseId < reader.fromPulseId) {
        reader.nextSeq = seq + 1; // never wanted: skipping it loses nothing
        continue;
      }
      readerLostPulses++;
      if (reader.onLost !== undefined) {
        reader.nextSeq = seq + 1;
        const skipped = reader.skipped;
        if (skipped === undefined) reader.skipped = { from: message.pulseId, to: message.pulseId, count: 1 };
        else {
          skipped.to = message.pulseId;
          skipped.count++;
        }
        continue;
      }
      reader.lost = new PulseGoneError(
        message.pulseId,
        oldestHeld(),
        'read',
        `reader fell behind the ring buffer: pulse ${message.pulseId} was evicted before it was read ` +
          `(the buffer holds ${maxMessages} messages / ${describeBytes(maxBytes)}); nothing from pulse ${message.pulseId} on is delivered`,
      );
    }
  };

  const get = (pulseId: number): BsreadMessage | undefined => {
    if (headSeq === tailSeq) return undefined;
    const seq = lowerBound(pulseId);
    if (seq === tailSeq) return undefined;
    const m = at(seq);
    return m.pulseId === pulseId ? m : undefined;
  };

  const push = (message: BsreadMessage): PushOutcome => {
    received++;
    if (closed) return 'closed';
    const pulseId = checkPulseId(message.pulseId);
    if (typeof message.wireBytes !== 'number' || !Number.isFinite(message.wireBytes) || message.wireBytes < 0) {
      throw new ValidationError(`pulse ${pulseId}: wireBytes must be a non-negative number`);
    }
    if (newestEver !== undefined && pulseId <= newestEver) {
      if (pulseId === newestEver || get(pulseId) !== undefined) {
        duplicates++;
        return 'duplicate';
      }
      outOfOrder++;
      return 'out_of_order';
    }
    if (newestEver !== undefined) pulseIdGaps += pulseId - newestEver - 1;
    firstEver ??= pulseId;
    newestEver = pulseId;
    if (tailSeq - headSeq === maxMessages) evictOldest(); // free the slot first
    slots[tailSeq % maxMessages] = message;
    tailSeq++;
    bytes += message.wireBytes;
    while (bytes > maxBytes && tailSeq - headSeq > 1) evictOldest();
    for (const reader of readers) reader.wake();
    return 'stored';
  };

  const checkStart = (fromPulseId: number): void => {
    checkPulseId(fromPulseId);
    if (lastEvicted !== undefined && fromPulseId <= lastEvicted) {
      const oldest = oldestHeld();
      throw new PulseGoneError(
        fromPulseId,
        oldest,
        'start',
        `pulse ${fromPulseId} has already left the ring buffer (oldest held: ${oldest ?? 'none'}, newest: ${newestEver ?? 'none'}; ` +
          `it holds ${maxMessages} messages / ${describeBytes(maxBytes)}); start at a later pulse or enlarge the buffer`,
      );
    }
    if (firstEver !== undefined && fromPulseId < firstEver) {
      throw new PulseGoneError(
        fromPulseId,
        oldestHeld(),
        'start',
        `pulse ${fromPulseId} is before the first pulse this ring buffer received (${firstEver}); it was never held`,
      );
    }
  };

  const read = (fromPulseId: number, readOptions: ReadOptions = {}): AsyncIterableIterator<BsreadMessage> => {
    checkPulseId(fromPulseId);
    const { signal } = readOptions;
    if (signal?.aborted) throw signal.reason;
    checkStart(fromPulseId);

    const reader: ReaderState = {
      nextSeq: lowerBound(fromPulseId),
      fromPulseId,
      lost: undefined,
      skipped: undefined,
      onLost: readOptions.onLost,
      aborted: undefined,
      waiter: undefined,
      finished: false,
      holding: undefined,
      wake: () => {
        const waiter = reader.waiter;
        if (waiter === undefined) return;
        const result = step();
        if (result === undefined) return;
        reader.waiter = undefined;
        if ('error' in result) waiter.reject(result.error);
        else waiter.resolve(result);
      },
    };

    const finish = (): void => {
      // Ended from step() (lost, or closed and read): the message was let go of just before.
      letGo(reader, false);
      reader.finished = true;
      readers.delete(reader);
      signal?.removeEventListener('abort', onAbort);
    };

    /** The next result now: a message, done, an error to reject with, or undefined to wait. */
    const step = (): IteratorResult<BsreadMessage> | { readonly error: unknown } | undefined => {
      // Called for a `next()` only (wake() runs it for a pending one): the reader is done with the last.
      letGo(reader, true);
      if (reader.aborted !== undefined) return { error: reader.aborted.reason };
      if (reader.finished) return { done: true, value: undefined };
      if (reader.lost !== undefined) {
        finish();
        return { error: reader.lost };
      }
      const skipped = reader.skipped;
      if (skipped !== undefined) {
        reader.skipped = undefined;
        reader.onLost?.({ from: skipped.from, to: skipped.to, count: skipped.count });
      }
      while (reader.nextSeq < tailSeq) {
        const message = at(reader.nextSeq);
        reader.nextSeq++;
        if (message.pulseId >= fromPulseId) {
          reader.holding = reader.nextSeq - 1;
          return { done: false, value: message };
        }
      }
      if (closed) {
        finish();
        return { done: true, value: undefined };
      }
      return undefined;
    };

    function onAbort(): void {
      const waiter = reader.waiter;
      reader.waiter = undefined;
      reader.aborted = { reason: signal?.reason };
      finish();
      waiter?.reject(reader.aborted.reason);
    }

    let queue: Promise<unknown> = Promise.resolve();
    const nextNow = (): Promise<IteratorResult<BsreadMessage>> => {
      const result = step();
      if (result !== undefined && 'error' in result) return Promise.reject(result.error);
      if (result !== undefined) return Promise.resolve(result);
      return new Promise((resolve, reject) => {
        reader.waiter = { resolve, reject };
      });
    };

    readers.add(reader);
    signal?.addEventListener('abort', onAbort, { once: true });

    const iterator: AsyncIterableIterator<BsreadMessage> = {
      // Calls of next() that overlap are served one after the other, in call order.
      next: () => {
        const p = queue.then(nextNow);
        queue = p.catch(() => undefined);
        return p;
      },
      return: (value?: unknown) => {
        const waiter = reader.waiter;
        reader.waiter = undefined;
        finish();
        waiter?.resolve({ done: true, value: undefined });
        return Promise.resolve({ done: true, value: value as BsreadMessage });
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  };

  const counters = (): RingBufferCounters => ({
    received,
    droppedOldest,
    malformed,
    pulseIdGaps,
    duplicates,
    outOfOrder,
    bytes,
    messages: tailSeq - headSeq,
    oldestPulseId: oldestHeld(),
    newestPulseId: headSeq < tailSeq ? at(tailSeq - 1).pulseId : null,
    readers: readers.size,
    readerLostPulses,
    firstPulseIdEver: firstEver ?? null,
  });

  const countMalformed = (count = 1): void => {
    if (!Number.isSafeInteger(count) || count < 0) throw new ValidationError(`malformed count must be a non-negative integer`);
    malformed += count;
  };

  const close = (): void => {
    if (closed) return;
    closed = true;
    for (const reader of readers) reader.wake();
  };

  return { push, countMalformed, get, read, checkStart, counters, close };
};
