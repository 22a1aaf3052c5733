import type { EventEnvelope, RecordedEvent } from './envelope.js';

/** Where the first copy of an appended event landed. */
export interface AppendResult {
  /** Global position (stream sequence) of the event. */
  readonly position: number;
  readonly version: number;
}

export interface AppendOptions {
  /**
   * Deduplication key: a second append with the same key fails with DuplicateEventError
   * naming the position of the first (within the store's deduplication window).
   */
  readonly idempotencyKey?: string;
}

export interface ReadAllOptions {
  /** First position to deliver (1 = from the start). */
  readonly from?: number;
  /** Deliver at most this many events per batch. */
  readonly batchSize?: number;
}

export interface SubscribeOptions {
  /**
   * Name of a durable consumer to read through (JetStream): the server then shows this
   * reader's position and lag. The reader's own checkpoint stays the truth: `from` decides
   * where delivery starts, whatever the durable consumer remembered.
   */
  readonly durable?: string;
  /** At most this many events per batch (default 500). */
  readonly batchSize?: number;
}

/**
 * A live subscription: batches of events in position order, from a position on, until closed.
 * A batch holds what was available at once (never empty); the iterator waits for more.
 */
export interface EventSubscription extends AsyncIterable<RecordedEvent[]> {
  /** Tells the store everything up to `position` is processed (acks a durable consumer). */
  ack(position: number): void;
  close(): Promise<void>;
}

/**
 * The event store port. One stream of events per actor (kind + id), one global order.
 *
 * `append` is optimistic: the event's `version` must be exactly one more than the actor's
 * last stored version (1 for a new actor), otherwise it fails with VersionConflictError and
 * stores nothing. A store that cannot be reached fails with StoreUnavailableError.
 *
 * @example
 * const { position } = await store.append({ ...event, version: 3 }, { idempotencyKey: 'req-17' });
 * const history = await store.readStream('demo', 'a1');
 */
export interface EventStore {
  append(event: EventEnvelope, options?: AppendOptions): Promise<AppendResult>;
  /** All events of one actor, oldest first, from `fromVersion` (default 1). Empty when unknown. */
  readStream(kind: string, id: string, fromVersion?: number): Promise<RecordedEvent[]>;
  /** The actor's last event, or undefined when it has none. */
  readLast(kind: string, id: string): Promise<RecordedEvent | undefined>;
  /** Batches of every event from a position up to the end as it was when the read began. */
  readAll(options?: ReadAllOptions): AsyncIterable<RecordedEvent[]>;
  /** The last event of every actor (one per actor, in position order), up to the current end. */
  readHeads(): AsyncIterable<RecordedEvent>;
  /** Every event from `from` on, then new ones as they are appended. */
  subscribe(from: number, options?: SubscribeOptions): EventSubscription;
  /** Position of the newest event, 0 when the store is empty. */
  lastPosition(): Promise<number>;
}
