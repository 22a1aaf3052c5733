import type { EventEnvelope } from '../../events/envelope.js';
import type { EventStore } from '../../events/eventStore.js';

/** The store, telling `onAppended` of each event it appended (after the append succeeded). */
export const meteredEventStore = (store: EventStore, onAppended: (event: EventEnvelope) => void): EventStore => ({
  append: async (event, options) => {
    const result = await store.append(event, options);
    try {
      onAppended(event);
    } catch {
      // Counting must never turn a recorded event into a failed append.
    }
    return result;
  },
  readStream: (kind, id, fromVersion) => store.readStream(kind, id, fromVersion),
  readLast: (kind, id) => store.readLast(kind, id),
  readAll: (options) => store.readAll(options),
  readHeads: () => store.readHeads(),
  subscribe: (from, options) => store.subscribe(from, options),
  lastPosition: () => store.lastPosition(),
});
