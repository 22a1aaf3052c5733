import type { RecordedEvent } from '../../events/envelope.js';
import { orderedRead } from './orderedRead.js';
import { allActorsSubject } from './subjects.js';
import type { StoreContext } from './storeContext.js';

/**
 * The newest event of every actor in position order, through an ordered consumer that
 * delivers only the last message per subject.
 */
export async function* readHeads(ctx: StoreContext): AsyncGenerator<RecordedEvent> {
  // The heads are those the server found when it made the consumer. Messages appended after
  // that are delivered behind them; a subject seen twice means the read is past the heads.
  const seen = new Set<string>();
  const reading = orderedRead(ctx, {
    filter: allActorsSubject(ctx.subjectPrefix),
    deliver: 'last_per_subject',
    batchSize: 256,
    what: 'reading the heads of all actors',
  });
  for await (const batch of reading) {
    for (const m of batch) {
      if (seen.has(m.subject)) return;
      seen.add(m.subject);
      const event = ctx.decode(m.data, m.seq);
      if (event) yield event;
    }
  }
}
