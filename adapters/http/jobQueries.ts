import { sql } from 'kysely';
import type { ActorStatusRow } from '../../projections/actorStatus.projection.js';
import type { DbOrTrx } from '../../projections/database.js';

export interface JobFilter {
  readonly kind?: string;
  readonly state?: string;
  /** Matched, case-insensitively, anywhere in the id, kind, state or summary. */
  readonly text?: string;
  /** Rows to pass over: the pages already shown. */
  readonly offset?: number;
  /** Default 200, at most 1000. */
  readonly limit?: number;
}

/** The jobs the status page lists: newest change first, one page at a time, and how many match. */
export interface JobPage {
  readonly rows: ActorStatusRow[];
  readonly total: number;
}

const escapeLike = (text: string): string => text.replace(/[\\%_]/g, (c) => `\\${c}`);

const filtered = (db: DbOrTrx, filter: JobFilter) => {
  const { kind, state, text } = filter;
  const pattern = text ? `%${escapeLike(text)}%` : undefined;
  return db
    .selectFrom('actor_status')
    .$if(kind !== undefined, (qb) => qb.where('kind', '=', kind as string))
    .$if(state !== undefined, (qb) => qb.where('state', '=', state as string))
    .$if(pattern !== undefined, (qb) =>
      qb.where((eb) =>
        eb.or([
          eb('id', 'ilike', pattern as string),
          eb('kind', 'ilike', pattern as string),
          eb('state', 'ilike', pattern as string),
          eb(sql`summary::text`, 'ilike', pattern as string),
        ]),
      ),
    );
};

/**
 * A page of jobs, the newest created first: a job keeps its row while it changes state, and a
 * new one appears on top.
 */
export const listJobs = async (db: DbOrTrx, filter: JobFilter = {}): Promise<JobPage> => {
  const limit = Math.min(1_000, Math.max(1, Math.trunc(filter.limit ?? 200)));
  const offset = Math.max(0, Math.trunc(filter.offset ?? 0));
  const [rows, count] = await Promise.all([
    filtered(db, filter)
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .offset(offset)
      .execute(),
    filtered(db, filter).select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow(),
  ]);
  return { rows, total: Number(count.count) };
};

/** The actors whose newest event is past `position`, oldest change first (at most `limit`). */
export const jobsChangedAfter = (db: DbOrTrx, position: number, limit: number): Promise<ActorStatusRow[]> =>
  db.selectFrom('actor_status').selectAll().where('position', '>', position).orderBy('position').limit(limit).execute();

/** Kinds and states present, for the list's filters. */
export const jobFacets = async (db: DbOrTrx): Promise<{ kinds: string[]; states: string[] }> => {
  const rows = await db.selectFrom('actor_status').select(['kind', 'state']).distinct().execute();
  return {
    kinds: [...new Set(rows.map((r) => r.kind))].sort(),
    states: [...new Set(rows.map((r) => r.state))].sort(),
  };
};

/** Parameters the statistics database has rows for. */
export const statisticsParameters = async (db: DbOrTrx): Promise<string[]> =>
  (await db.selectFrom('grab_statistics').select('parameter').distinct().orderBy('parameter').execute()).map((r) => r.parameter);

/** Report jobs that wrote a report site, newest first. */
export const reportSites = (db: DbOrTrx, limit = 500): Promise<ActorStatusRow[]> =>
  db
    .selectFrom('actor_status')
    .selectAll()
    .where('kind', '=', 'report')
    .where(sql<boolean>`summary->'report' is not null and summary->'report' <> 'null'::jsonb`)
    .orderBy('position', 'desc')
    .limit(limit)
    .execute();
