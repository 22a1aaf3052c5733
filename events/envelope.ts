import { z } from 'zod';

/** Actor kinds and ids become NATS subject tokens, so they are restricted to safe characters. */
export const tokenPattern = /^[A-Za-z0-9_-]{1,128}$/;

/** An actor id (or kind) as clients send it. */
export const actorIdSchema = z.string().regex(tokenPattern, 'an actor id is 1-128 of A-Z a-z 0-9 _ -');

/** A client's request id: the idempotency key of a command. */
export const requestIdSchema = z.string().min(1, 'a requestId is 1-200 characters').max(200, 'a requestId is 1-200 characters');

/**
 * One stored event: one transition of one actor. The envelope carries the state the transition
 * led to, so readers (projections, `history`) never need the machine, and replay can check that
 * the machine still folds the history to the same states.
 */
export const eventEnvelopeSchema = z.object({
  id: z.string().min(1),
  type: z.string().min(1).max(200),
  schemaVersion: z.number().int().min(1),
  actorKind: z.string().regex(tokenPattern),
  actorId: z.string().regex(tokenPattern),
  /** Per-actor version, 1 for the first event of an actor. */
  version: z.number().int().min(1),
  /** ISO 8601 time at which the transition was decided. */
  time: z.iso.datetime({ offset: true }),
  correlationId: z.string().min(1),
  causationId: z.string().nullable(),
  /** The client's request id (idempotency key) when the transition came from a request. */
  commandId: z.string().nullable(),
  previousState: z.string().nullable(),
  state: z.string().min(1),
  final: z.boolean(),
  /** A small JSON summary of the actor after the transition, for status rows. */
  summary: z.record(z.string(), z.unknown()),
  data: z.unknown(),
});

export type EventEnvelope<Data = unknown> = Omit<z.infer<typeof eventEnvelopeSchema>, 'data'> & {
  data: Data;
};

/** An envelope as read back from the store, with its position (the stream sequence). */
export type RecordedEvent<Data = unknown> = EventEnvelope<Data> & { position: number };

/** The name of an actor's own stream of events (not the JetStream stream). */
export const streamNameOf = (kind: string, id: string): string => `${kind}.${id}`;
