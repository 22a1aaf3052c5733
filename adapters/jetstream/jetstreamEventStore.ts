import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { EventEnvelope, RecordedEvent } from '../../events/envelope.js';
import type { EventSchemas } from '../../events/eventSchemas.js';
import type {
  AppendOptions,
  AppendResult,
  EventStore,
  EventSubscription,
  ReadAllOptions,
  SubscribeOptions,
} from '../../events/eventStore.js';
import { appendToStream } from './appendToStream.js';
import { decodeEvent } from './decodeEvent.js';
import { defaultEventStream } from './eventStream.js';
import { HeadCache } from './headCache.js';
import { PubAckPipeline } from './pubAckPipeline.js';
import { lastPosition } from './lastPosition.js';
import { readAll } from './readAll.js';
import { readHeads } from './readHeads.js';
import { readLast } from './readLast.js';
import { readStream } from './readStream.js';
import type { StoreContext } from './storeContext.js';
import { subscribe } from './subscribe.js';

export interface JetStreamEventStoreOptions {
  /** The connection to use; it stays the caller's to close. */
  readonly nc: NatsConnection;
  /** JetStream stream name (default DAQFLOW_EVENTS). */
  readonly stream?: string;
  /** Actor subjects are `${subjectPrefix}.${kind}.${id}` (default daqflow.events). */
  readonly subjectPrefix?: string;
  /** When given, events are upcast to the current schema version as they are read. */
  readonly schemas?: EventSchemas;
  /** Told about every stored message that does not decode; readers skip such messages. */
  readonly onCorrupt?: (position: number, error: unknown) => void;
  /** How long one JetStream request may take, in ms (default 5000). */
  readonly timeoutMs?: number;
}

/** The event store on NATS JetStream, plus what is specific to it. */
export interface JetStreamEventStore extends EventStore {
  readonly stream: string;
  readonly subjectPrefix: string;
  /** How many stored messages failed to decode (and were skipped) so far. */
  readonly corruptCount: number;
  /** Ends the subscriptions opened through this store; the connection stays open. */
  close(): Promise<void>;
}

/**
 * An EventStore over one JetStream stream (made beforehand with ensureEventStream): one
 * subject per actor, one message per event.
 */
export const createJetStreamEventStore = (options: JetStreamEventStoreOptions): JetStreamEventStore => {
  const names = {
    stream: options.stream ?? defaultEventStream.stream,
    subjectPrefix: options.subjectPrefix ?? defaultEventStream.subjectPrefix,
  };
  const timeout = options.timeoutMs ?? 5_000;
  let manager: Promise<JetStreamManager> | undefined;

  let corrupt = 0;
  const onCorrupt = options.onCorrupt;
  const ctx: StoreContext = {
    js: jetstream(options.nc, { timeout }),
    publisher: new PubAckPipeline(options.nc, timeout),
    // Without the account check, making the manager sends nothing, so the store can be made
    // synchronously; an unreachable server shows on the first operation instead.
    manager: () => (manager ??= jetstreamManager(options.nc, { timeout, checkAPI: false })),
    ...names,
    heads: new HeadCache(),
    decode: (data, seq) => {
      try {
        return decodeEvent(data, seq, options.schemas);
      } catch (e) {
        corrupt++;
        try {
          onCorrupt?.(seq, e);
        } catch {
          // A failing report must not turn one bad message into a failed read.
        }
        return undefined;
      }
    },
  };

  const subscriptions = new Set<EventSubscription>();

  return {
    ...names,
    get corruptCount() {
      return corrupt;
    },
    append: (event: EventEnvelope, appendOptions?: AppendOptions): Promise<AppendResult> =>
      appendToStream(ctx, event, appendOptions),
    readStream: (kind: string, id: string, fromVersion?: number): Promise<RecordedEvent[]> =>
      readStream(ctx, kind, id, fromVersion),
    readLast: (kind: string, id: string): Promise<RecordedEvent | undefined> => readLast(ctx, kind, id),
    readAll: (readOptions?: ReadAllOptions): AsyncIterable<RecordedEvent[]> => readAll(ctx, readOptions),
    readHeads: (): AsyncIterable<RecordedEvent> => readHeads(ctx),
    subscribe: (from: number, subscribeOptions?: SubscribeOptions): EventSubscription => {
      const subscription = subscribe(ctx, from, subscribeOptions);
      subscriptions.add(subscription);
      return {
        ack: (position) => subscription.ack(position),
        close: () => {
          subscriptions.delete(subscription);
          return subscription.close();
        },
        [Symbol.asyncIterator]: () => subscription[Symbol.asyncIterator](),
      };
    },
    lastPosition: (): Promise<number> => lastPosition(ctx),
    close: async (): Promise<void> => {
      const open = [...subscriptions];
      subscriptions.clear();
      await Promise.all(open.map((s) => s.close()));
      ctx.publisher.close();
    },
  };
};
