import type { EventEnvelope, RecordedEvent } from './envelope.js';
import { streamNameOf } from './envelope.js';
import { DuplicateEventError, VersionConflictError } from './errors.js';
import type {
  AppendOptions,
  AppendResult,
  EventStore,
  EventSubscription,
  ReadAllOptions,
  SubscribeOptions,
} from './eventStore.js';

/**
 * The reference event store: everything in one array. Used by unit specs and as the second
 * implementation the contract suite runs against. Its deduplication window never closes.
 */
export class InMemoryEventStore implements EventStore {
  private readonly events: RecordedEvent[] = [];
  private readonly byStream = new Map<string, RecordedEvent[]>();
  private readonly keys = new Map<string, number>();
  private readonly waiters = new Set<() => void>();

  append(event: EventEnvelope, options: AppendOptions = {}): Promise<AppendResult> {
    const name = streamNameOf(event.actorKind, event.actorId);
    const key = options.idempotencyKey;
    if (key !== undefined) {
      const first = this.keys.get(key);
      if (first !== undefined) return Promise.reject(new DuplicateEventError(name, key, first));
    }
    const stream = this.byStream.get(name) ?? [];
    const current = stream.length;
    if (event.version !== current + 1) {
      return Promise.reject(new VersionConflictError(name, event.version - 1, current));
    }
    const recorded: RecordedEvent = { ...structuredClone(event), position: this.events.length + 1 };
    this.events.push(recorded);
    stream.push(recorded);
    this.byStream.set(name, stream);
    if (key !== undefined) this.keys.set(key, recorded.position);
    for (const wake of this.waiters) wake();
    return Promise.resolve({ position: recorded.position, version: recorded.version });
  }

  readStream(kind: string, id: string, fromVersion = 1): Promise<RecordedEvent[]> {
    const stream = this.byStream.get(streamNameOf(kind, id)) ?? [];
    return Promise.resolve(stream.slice(Math.max(0, fromVersion - 1)).map((e) => structuredClone(e)));
  }

  readLast(kind: string, id: string): Promise<RecordedEvent | undefined> {
    const stream = this.byStream.get(streamNameOf(kind, id));
    const last = stream?.[stream.length - 1];
    return Promise.resolve(last && structuredClone(last));
  }

  async *readAll(options: ReadAllOptions = {}): AsyncIterable<RecordedEvent[]> {
    const end = this.events.length;
    const size = options.batchSize ?? 256;
    for (let i = Math.max(0, (options.from ?? 1) - 1); i < end; i += size) {
      yield this.events.slice(i, Math.min(end, i + size)).map((e) => structuredClone(e));
      await Promise.resolve();
    }
  }

  async *readHeads(): AsyncIterable<RecordedEvent> {
    const heads = [...this.byStream.values()]
      .map((s) => s[s.length - 1])
      .filter((e): e is RecordedEvent => e !== undefined)
      .sort((a, b) => a.position - b.position);
    for (const head of heads) yield structuredClone(head);
    await Promise.resolve();
  }

  subscribe(from: number, options: SubscribeOptions = {}): EventSubscription {
    let next = Math.max(1, from);
    let closed = false;
    let wake: (() => void) | undefined;
    const size = options.batchSize ?? 500;
    const waiters = this.waiters;
    const events = this.events;
    return {
      ack: () => undefined,
      close: () => {
        closed = true;
        wake?.();
        return Promise.resolve();
      },
      async *[Symbol.asyncIterator]() {
        while (!closed) {
          if (events.length >= next) {
            const batch = events.slice(next - 1, next - 1 + size).map((e) => structuredClone(e));
            next += batch.length;
            yield batch;
            continue;
          }
          await new Promise<void>((resolve) => {
            const w = (): void => {
              waiters.delete(w);
              resolve();
            };
            wake = w;
            waiters.add(w);
          });
        }
      },
    };
  }

  lastPosition(): Promise<number> {
    return Promise.resolve(this.events.length);
  }
}
