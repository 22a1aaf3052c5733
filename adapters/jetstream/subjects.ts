import { tokenPattern } from '../../events/envelope.js';

/** The NATS subject that holds one actor's events: `${subjectPrefix}.${kind}.${id}`. */
export const actorSubject = (subjectPrefix: string, kind: string, id: string): string =>
  `${subjectPrefix}.${kind}.${id}`;

/** The wildcard subject that covers every actor's events under a prefix. */
export const allActorsSubject = (subjectPrefix: string): string => `${subjectPrefix}.>`;

/**
 * Whether kind and id can name an actor. Reads must check this before building a subject:
 * a `*`, `>` or `.` in a token would turn a lookup of one actor into a wildcard over many.
 */
export const isActorAddress = (kind: string, id: string): boolean =>
  tokenPattern.test(kind) && tokenPattern.test(id);
