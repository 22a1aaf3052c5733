import type { RecordedEvent } from '../../events/envelope.js';
import { lastStoredMessage } from './lastStoredMessage.js';
import { orderedRead } from './orderedRead.js';
import { actorSubject, isActorAddress } from './subjects.js';
import type { StoreContext } from './storeContext.js';

/** All events of one actor from `fromVersion` on, replayed through an ordered consumer on its subject. */
export const readStream = async (
  ctx: StoreContext,
  kind: string,
  id: string,
  fromVersion = 1,
): Promise<RecordedEvent[]> => {
  if (!isActorAddress(kind, id)) return [];
  const subject = actorSubject(ctx.subjectPrefix, kind, id);
  // Knowing the last sequence first answers "unknown actor" without a consumer, and gives
  // the read an end that does not move while we read.
  const last = await lastStoredMessage(ctx, subject);
  if (!last) return [];
  const head = ctx.decode(last.data, last.seq);
  if (head) {
    ctx.heads.note(subject, { version: head.version, seq: head.position });
    if (head.version < fromVersion) return [];
    if (head.version === fromVersion) return [head];
  }
  const events: RecordedEvent[] = [];
  const reading = orderedRead(ctx, {
    filter: subject,
    deliver: 'from',
    from: 1,
    end: last.seq,
    batchSize: 256,
    what: `reading ${kind}.${id}`,
  });
  for await (const batch of reading) {
    for (const m of batch) {
      // The head was decoded (and reported when corrupt) above already.
      const event = m.seq === last.seq ? head : ctx.decode(m.data, m.seq);
      if (event && event.version >= fromVersion) events.push(event);
    }
  }
  return events;
};
