import type { RecordedEvent } from '../events/index.js';
import type { DbOrTrx } from './database.js';

/**
 * A read model fed by events. `apply` takes a whole batch (in position order) and must be
 * idempotent: applying events it has already seen, again or out of order, leaves the same rows.
 * Its tables are created by migrations only; `tables` names them so a rebuild can swap them.
 */
export interface Projection {
  readonly name: string;
  /** Tables this projection alone writes (unqualified). */
  readonly tables: readonly string[];
  /** Events the projection cares about; all when absent. */
  readonly handles?: (event: RecordedEvent) => boolean;
  apply(trx: DbOrTrx, events: readonly RecordedEvent[]): Promise<void>;
}

/** Applies one batch to every projection, each seeing only the events it handles. */
export const applyProjections = async (
  trx: DbOrTrx,
  projections: readonly Projection[],
  events: readonly RecordedEvent[],
): Promise<void> => {
  for (const projection of projections) {
    const handles = projection.handles;
    const mine = handles === undefined ? events : events.filter((e) => handles(e));
    if (mine.length > 0) await projection.apply(trx, mine);
  }
};

// PostgreSQL allows 65535 bind parameters per statement; 1000 rows of ~13 columns stays well below.
const ROWS_PER_STATEMENT = 1000;

/** Splits rows into slices small enough for one multi-row INSERT each. */
export const inStatementChunks = <T>(rows: readonly T[]): T[][] => {
  const chunks: T[][] = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
    chunks.push(rows.slice(i, i + ROWS_PER_STATEMENT));
  }
  return chunks;
};

/** JSON text for a jsonb parameter: pg would send a JS array as a PostgreSQL array otherwise. */
export const jsonb = (value: unknown): string => JSON.stringify(value ?? null);
