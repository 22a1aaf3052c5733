import type { Kysely } from 'kysely';
import { listActors } from '../../projections/actorStatus.projection.js';
import { actorHistory } from '../../projections/actorTransition.projection.js';
import type { Database } from '../../projections/database.js';
import { queryStatistics } from '../../projections/grabStatistics.queries.js';
import type { StatusQueries } from '../natsApi/queryService.js';

/** The query API's read side, served by the projection tables. */
export const createStatusQueries = (db: Kysely<Database>): StatusQueries => ({
  list: (filter) => listActors(db, filter),
  history: (id) => actorHistory(db, id),
  stats: (filter) => queryStatistics(db, filter),
});
