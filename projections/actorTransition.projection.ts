import type { ColumnType, Insertable, Selectable } from 'kysely';
import type { RecordedEvent } from '../events/index.js';
import type { DbOrTrx } from './database.js';
import { inStatementChunks, jsonb, type Projection } from './projection.js';

/** One row per event: the transition history of every actor. */
export interface ActorTransitionTable {
  position: number;
  kind: string;
  id: string;
  version: number;
  type: string;
  previous_state: string | null;
  state: string;
  final: boolean;
  time: ColumnType<Date, Date | string, Date | string>;
  correlation_id: string;
  causation_id: string | null;
  command_id: string | null;
  // Any JSON value, arrays and scalars included; written as JSON text.
  data: ColumnType<unknown, string, string>;
}

export type ActorTransitionRow = Selectable<ActorTransitionTable>;
export type NewActorTransitionRow = Insertable<ActorTransitionTable>;

const transitionRow = (event: RecordedEvent): NewActorTransitionRow => ({
  position: event.position,
  kind: event.actorKind,
  id: event.actorId,
  version: event.version,
  type: event.type,
  previous_state: event.previousState,
  state: event.state,
  final: event.final,
  time: event.time,
  correlation_id: event.correlationId,
  causation_id: event.causationId,
  command_id: event.commandId,
  data: jsonb(event.data),
});

/** Appends every event to `actor_transition`; an event already there (by position or version) is skipped. */
export const actorTransitionProjection: Projection = {
  name: 'actorTransition',
  tables: ['actor_transition'],
  async apply(trx, events) {
    for (const rows of inStatementChunks(events.map(transitionRow))) {
      await trx
        .insertInto('actor_transition')
        .values(rows)
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
  },
};

/** Every transition of the actor `id`, oldest first. */
export const actorHistory = (
  db: DbOrTrx,
  id: string,
): Promise<ActorTransitionRow[]> =>
  db
    .selectFrom('actor_transition')
    .selectAll()
    .where('id', '=', id)
    .orderBy('version')
    .orderBy('position')
    .execute();
