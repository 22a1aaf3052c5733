import type { Kysely, Transaction } from 'kysely';
import type { ActorStatusTable } from './actorStatus.projection.js';
import type { ActorTransitionTable } from './actorTransition.projection.js';
import type { ProjectionCheckpointTable } from './checkpoints.js';
import type { GrabStatisticsTable } from './grabStatistics.projection.js';

/** Every table of the read side, as kysely sees it; each table is declared by the file that writes it. */
export interface Database {
  projection_checkpoint: ProjectionCheckpointTable;
  actor_status: ActorStatusTable;
  actor_transition: ActorTransitionTable;
  grab_statistics: GrabStatisticsTable;
}

/** What read and write functions take first: the database, or a transaction on it. */
export type DbOrTrx = Kysely<Database> | Transaction<Database>;
