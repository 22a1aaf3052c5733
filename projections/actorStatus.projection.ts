import type { ColumnType, Insertable, JSONColumnType, Selectable } from 'kysely';
import type { RecordedEvent } from '../events/index.js';
import type { DbOrTrx } from './database.js';
import { inStatementChunks, jsonb, type Projection } from './projection.js';

type Timestamp = ColumnType<Date, Date | string, Date | string>;

/** One row per actor: where it stands after its newest event. */
export interface ActorStatusTable {
  kind: string;
  id: string;
  state: string;
  final: boolean;
  version: number;
  position: number;
  /** Time of the first event seen for the actor (its version 1 in any in-order fold). */
  created_at: Timestamp;
  /** Time of the newest event. */
  updated_at: Timestamp;
  last_event_type: string;
  correlation_id: string;
  summary: JSONColumnType<Record<string, unknown>>;
}

export type ActorStatusRow = Selectable<ActorStatusTable>;
export type NewActorStatusRow = Insertable<ActorStatusTable>;

type Db = DbOrTrx;

// A multi-row ON CONFLICT DO UPDATE may not touch the same row twice, so a batch is first
// reduced to one row per actor: the newest event, with the time of the oldest for created_at.
const statusRows = (events: readonly RecordedEvent[]): NewActorStatusRow[] => {
  const byActor = new Map<string, { first: RecordedEvent; last: RecordedEvent }>();
  for (const event of events) {
    const key = `${event.actorKind}\u0000${event.actorId}`;
    const seen = byActor.get(key);
    if (seen === undefined) {
      byActor.set(key, { first: event, last: event });
      continue;
    }
    if (event.version < seen.first.version) seen.first = event;
    if (event.version > seen.last.version) seen.last = event;
  }
  return [...byActor.values()]
    .map(({ first, last }) => ({
      kind: last.actorKind,
      id: last.actorId,
      state: last.state,
      final: last.final,
      version: last.version,
      position: last.position,
      created_at: first.time,
      updated_at: last.time,
      last_event_type: last.type,
      correlation_id: last.correlationId,
      summary: jsonb(last.summary),
    }))
    .sort((a, b) => (a.kind === b.kind ? (a.id < b.id ? -1 : 1) : a.kind < b.kind ? -1 : 1));
};

/** Keeps `actor_status` at each actor's newest version; older or repeated events change nothing. */
export const actorStatusProjection: Projection = {
  name: 'actorStatus',
  tables: ['actor_status'],
  async apply(trx, events) {
    for (const rows of inStatementChunks(statusRows(events))) {
      await trx
        .insertInto('actor_status')
        .values(rows)
        .onConflict((oc) =>
          oc
            .columns(['kind', 'id'])
            .doUpdateSet((eb) => ({
              state: eb.ref('excluded.state'),
              final: eb.ref('excluded.final'),
              version: eb.ref('excluded.version'),
              position: eb.ref('excluded.position'),
              updated_at: eb.ref('excluded.updated_at'),
              last_event_type: eb.ref('excluded.last_event_type'),
              correlation_id: eb.ref('excluded.correlation_id'),
              summary: eb.ref('excluded.summary'),
            }))
            .where((eb) => eb('actor_status.version', '<', eb.ref('excluded.version'))),
        )
        .execute();
    }
  },
};

export interface ListActorsOptions {
  readonly kind?: string;
  readonly state?: string;
  /** Default 100, at most 1000. */
  readonly limit?: number;
}

/** Actors, most recently changed first. */
export const listActors = (db: Db, options: ListActorsOptions = {}): Promise<ActorStatusRow[]> => {
  const { kind, state } = options;
  const limit = Math.min(1000, Math.max(1, Math.trunc(options.limit ?? 100)));
  return db
    .selectFrom('actor_status')
    .selectAll()
    .$if(kind !== undefined, (qb) => qb.where('kind', '=', kind as string))
    .$if(state !== undefined, (qb) => qb.where('state', '=', state as string))
    .orderBy('updated_at', 'desc')
    .orderBy('position', 'desc')
    .limit(limit)
    .execute();
};

/** One actor's status; by id alone when `kind` is undefined (ids are unique across kinds). */
export const getActorStatus = (
  db: Db,
  kind: string | undefined,
  id: string,
): Promise<ActorStatusRow | undefined> =>
  db
    .selectFrom('actor_status')
    .selectAll()
    .where('id', '=', id)
    .$if(kind !== undefined, (qb) => qb.where('kind', '=', kind as string))
    .orderBy('updated_at', 'desc')
    .limit(1)
    .executeTakeFirst();
