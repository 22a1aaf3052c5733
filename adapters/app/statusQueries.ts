import type { Kysely } from 'kysely';
import { listActors } from '../../projections/actorStatus.projection.js';
import { actorHistory } from '../../projections/actorTransition.projection.js';
import { awaitCheckpoint } from '../../projections/awaitCheckpoint.js';
import type { Database } from '../../projections/database.js';
import { DEFAULT_PROJECTOR_NAME } from '../../projections/projector.js';
import { queryStatistics } from '../../projections/grabStatistics.queries.js';
import type { StatusQueries } from '../natsApi/queryService.js';
import { orStoreUnavailable } from '../postgres/databaseUnavailable.js';

/**
 * The query API's read side, served by the projection tables. While PostgreSQL is away a query
 * answers STORE_UNAVAILABLE (retryable) rather than an internal error.
 */
export const createStatusQueries = (db: Kysely<Database>): StatusQueries => ({
  list: (filter) => orStoreUnavailable(() => listActors(db, filter)),
  history: (id) => orStoreUnavailable(() => actorHistory(db, id)),
  stats: (filter) => orStoreUnavailable(() => queryStatistics(db, filter)),
  caughtUp: (position, waitMs) => orStoreUnavailable(() => awaitCheckpoint(db, DEFAULT_PROJECTOR_NAME, position, waitMs)),
});
