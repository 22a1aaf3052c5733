import type { EventEnvelope } from '../../events/envelope.js';
import { eventEnvelopeSchema, streamNameOf } from '../../events/envelope.js';
import { DuplicateEventError, ValidationError, VersionConflictError } from '../../events/errors.js';
import type { AppendOptions, AppendResult } from '../../events/eventStore.js';
import { pickEnvelope } from './decodeEvent.js';
import { isWrongLastSequence, toStoreError } from './errors.js';
import { fetchHead } from './lastStoredMessage.js';
import { actorSubject } from './subjects.js';
import type { StoreContext } from './storeContext.js';

/**
 * A subject sequence no subject ever has. Publishing with it can only end as a duplicate
 * (the server checks Nats-Msg-Id before the expected sequence, verified on 2.9.10) or as
 * "wrong last sequence"; it is how a stale append learns whether its key was seen before.
 */
const unreachableSequence = Number.MAX_SAFE_INTEGER;

const encoder = new TextEncoder();

const encode = (event: EventEnvelope): Uint8Array => {
  try {
    return encoder.encode(JSON.stringify(event));
  } catch (e) {
    throw new ValidationError(`event ${event.type} cannot be stored as JSON`, [], { cause: e });
  }
};

/**
 * Appends one event as one message on the actor's subject, guarded by the stream sequence of
 * the actor's last message (Nats-Expected-Last-Subject-Sequence) and deduplicated by the
 * idempotency key (Nats-Msg-Id).
 */
export const appendToStream = async (
  ctx: StoreContext,
  event: EventEnvelope,
  options: AppendOptions = {},
): Promise<AppendResult> => {
  const checked = eventEnvelopeSchema.safeParse(event);
  if (!checked.success) {
    const first = checked.error.issues[0];
    const where = first ? `${first.path.map(String).join('.') || '(envelope)'}: ${first.message}` : '';
    throw new ValidationError(`the event envelope is invalid: ${where}`, checked.error.issues);
  }
  const envelope = pickEnvelope(event);
  const name = streamNameOf(envelope.actorKind, envelope.actorId);
  const subject = actorSubject(ctx.subjectPrefix, envelope.actorKind, envelope.actorId);
  const key = options.idempotencyKey;
  const expected = envelope.version - 1;

  let head = ctx.heads.get(subject);
  // A first event needs no look-up: expecting sequence 0 makes the server refuse it when the
  // subject already has messages, which is the conflict we would have looked for.
  if (head === undefined && expected === 0) head = { version: 0, seq: 0 };
  else if (head?.version !== expected) head = await fetchHead(ctx, subject);
  const stale = head.version !== expected;
  // A key must be reported as a duplicate even when the version is stale, as the port's
  // reference store does; only the server knows the keys, so a stale append with a key still
  // asks it, with an expectation that can never hold.
  if (stale && key === undefined) throw new VersionConflictError(name, expected, head.version);

  let ack;
  try {
    ack = await ctx.publisher.publish(subject, encode(envelope), {
      ...(key !== undefined && { msgID: key }),
      lastSubjectSequence: stale ? unreachableSequence : head.seq,
    });
  } catch (e) {
    if (isWrongLastSequence(e)) {
      ctx.heads.forget(subject);
      const actual = stale
        ? head.version
        : await fetchHead(ctx, subject).then(
            (h) => h.version,
            () => undefined,
          );
      throw new VersionConflictError(name, expected, actual, { cause: e });
    }
    throw toStoreError(e, `append to ${name}`);
  }
  if (ack.duplicate) throw new DuplicateEventError(name, key ?? '', ack.seq);
  ctx.heads.note(subject, { version: envelope.version, seq: ack.seq });
  return { position: ack.seq, version: envelope.version };
};
