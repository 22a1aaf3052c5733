import type { EventEnvelope, RecordedEvent } from '../../events/envelope.js';
import { eventEnvelopeSchema } from '../../events/envelope.js';
import type { EventSchemas } from '../../events/eventSchemas.js';

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The envelope's own fields of `value`, nothing else. The objects inside (summary, data) are
 * kept as they are: zod's parse output is not used because it rebuilds records by assignment,
 * which silently drops a key named `__proto__`.
 */
export const pickEnvelope = (value: EventEnvelope): EventEnvelope => {
  const { id, type, schemaVersion, actorKind, actorId, version, time, correlationId } = value;
  const { causationId, commandId, previousState, state, final, summary, data } = value;
  return {
    id,
    type,
    schemaVersion,
    actorKind,
    actorId,
    version,
    time,
    correlationId,
    causationId,
    commandId,
    previousState,
    state,
    final,
    summary,
    data,
  };
};

/**
 * Turns a stored message body into a RecordedEvent: JSON, envelope shape, upcast to the
 * current schema version, position = stream sequence. Throws when any step fails.
 */
export const decodeEvent = (data: Uint8Array, seq: number, schemas?: EventSchemas): RecordedEvent => {
  const raw: unknown = JSON.parse(decoder.decode(data));
  eventEnvelopeSchema.parse(raw);
  const event = pickEnvelope(raw as EventEnvelope);
  return { ...(schemas ? schemas.upcast(event) : event), position: seq };
};
