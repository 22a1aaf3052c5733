import type { RecordedEvent } from '../../events/envelope.js';
import type { ReadAllOptions } from '../../events/eventStore.js';
import { lastPosition } from './lastPosition.js';
import { orderedRead } from './orderedRead.js';
import type { StoreContext } from './storeContext.js';

/** Batches of every event from `from` up to the stream's last sequence when the read began. */
export async function* readAll(ctx: StoreContext, options: ReadAllOptions = {}): AsyncGenerator<RecordedEvent[]> {
  const from = Math.max(1, options.from ?? 1);
  const batchSize = Math.max(1, options.batchSize ?? 256);
  const end = await lastPosition(ctx);
  if (from > end) return;
  const reading = orderedRead(ctx, { deliver: 'from', from, end, batchSize, what: 'reading all events' });
  for await (const batch of reading) {
    const events: RecordedEvent[] = [];
    for (const m of batch) {
      // A message appended after the read began can share the last batch; it is not ours.
      if (m.seq > end) continue;
      const event = ctx.decode(m.data, m.seq);
      if (event) events.push(event);
    }
    if (events.length > 0) yield events;
  }
}
