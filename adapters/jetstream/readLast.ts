import type { RecordedEvent } from '../../events/envelope.js';
import { lastStoredMessage } from './lastStoredMessage.js';
import { readStream } from './readStream.js';
import { actorSubject, isActorAddress } from './subjects.js';
import type { StoreContext } from './storeContext.js';

/** The actor's newest event by Direct Get, or undefined when it has none. */
export const readLast = async (ctx: StoreContext, kind: string, id: string): Promise<RecordedEvent | undefined> => {
  if (!isActorAddress(kind, id)) return undefined;
  const subject = actorSubject(ctx.subjectPrefix, kind, id);
  const last = await lastStoredMessage(ctx, subject);
  if (!last) return undefined;
  const event = ctx.decode(last.data, last.seq);
  if (event) {
    ctx.heads.note(subject, { version: event.version, seq: event.position });
    return event;
  }
  // The newest message is corrupt (and reported): the newest event that still decodes is
  // the best answer there is.
  return (await readStream(ctx, kind, id)).at(-1);
};
