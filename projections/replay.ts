import { sql, type Kysely, type Transaction } from 'kysely';
import type { EventStore, RecordedEvent } from '../events/index.js';
import { setCheckpoint } from './checkpoints.js';
import type { Database } from './database.js';
import { applyProjections, type Projection } from './projection.js';
import { DEFAULT_PROJECTOR_NAME, lockProjections } from './projector.js';

export interface RebuildProgress {
  /** fold: into the shadow tables; catch-up: what arrived meanwhile, under the lock; swapped: the rebuilt tables are live. */
  readonly phase: 'fold' | 'catch-up' | 'swapped';
  /** Events applied so far. */
  readonly events: number;
  readonly position: number;
  /** Newest position when the rebuild began. */
  readonly target: number;
}

export interface RebuildOptions {
  readonly db: Kysely<Database>;
  readonly store: EventStore;
  readonly projections: readonly Projection[];
  /**
   * Creates the projection tables in `schema` (which exists and is empty): run the migrations
   * into it, e.g. `(schema) => migrateToLatest(db, { schema })`. A callback so that projections/
   * need not know where migrations live.
   */
  readonly prepareSchema: (schema: string) => Promise<unknown>;
  readonly onProgress?: (progress: RebuildProgress) => void;
  /** The live projector whose checkpoint moves to the rebuilt position (default 'daqflow-projector'). */
  readonly projectorName?: string;
  /** Schema of the live tables (default 'public'). */
  readonly liveSchema?: string;
  /** Events per read and per shadow transaction (default 1000). */
  readonly batchSize?: number;
  /** Name of the shadow schema (default: a new `daqflow_rebuild_…` name); it must not exist. */
  readonly shadowSchema?: string;
}

/** A new name for a rebuild's shadow schema. */
export const newShadowSchemaName = (): string =>
  `daqflow_rebuild_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

export interface RebuildResult {
  /** Events applied, including those that arrived while the rebuild ran. */
  readonly events: number;
  /** Position the rebuilt tables (and the live projector's checkpoint) are at. */
  readonly position: number;
  readonly ms: number;
}

const CHECKPOINT_TABLE = 'projection_checkpoint';

const tableExists = async (db: Kysely<Database>, schema: string, table: string): Promise<boolean> => {
  const { rows } = await sql`
    select 1 from pg_catalog.pg_tables where schemaname = ${schema} and tablename = ${table}
  `.execute(db);
  return rows.length > 0;
};

/**
 * Rebuilds the projections' tables from the whole stream without taking them offline
 * (blue-green): folds every event into fresh tables in a shadow schema, then in one transaction
 * under the projection lock applies the events that arrived meanwhile, swaps the shadow tables in
 * for the live ones (missing live tables are fine) and moves the live projector's checkpoint to
 * the rebuilt position. Readers only wait for that short swap. The shadow schema is always dropped.
 */
export const rebuildProjections = async (options: RebuildOptions): Promise<RebuildResult> => {
  const {
    db,
    store,
    projections,
    prepareSchema,
    onProgress,
    projectorName = DEFAULT_PROJECTOR_NAME,
    liveSchema = 'public',
    batchSize = 1_000,
  } = options;
  const started = performance.now();
  const shadow = options.shadowSchema ?? newShadowSchemaName();
  const tables = [...new Set(projections.flatMap((p) => p.tables))];
  const target = await store.lastPosition();
  let events = 0;
  let position = 0;

  const foldInto = async (trx: Transaction<Database>, batch: readonly RecordedEvent[]): Promise<void> => {
    await applyProjections(trx.withSchema(shadow), projections, batch);
    events += batch.length;
    position = batch[batch.length - 1]?.position ?? position;
  };

  await sql`create schema ${sql.id(shadow)}`.execute(db);
  try {
    await prepareSchema(shadow);
    for (const table of tables) {
      if (!(await tableExists(db, shadow, table))) {
        throw new Error(`prepareSchema did not create ${shadow}.${table}`);
      }
    }
    for await (const batch of store.readAll({ from: 1, batchSize })) {
      await db.transaction().execute(async (trx) => {
        // The shadow tables are thrown away if anything fails, so losing the last commits in
        // a crash costs nothing and waiting for each flush buys nothing.
        await sql`set local synchronous_commit = off`.execute(trx);
        await foldInto(trx, batch);
      });
      onProgress?.({ phase: 'fold', events, position, target });
    }
    const moveCheckpointTable = !(await tableExists(db, liveSchema, CHECKPOINT_TABLE));
    await db.transaction().execute(async (trx) => {
      // From here the live projector waits; everything it had committed is in the store, and
      // this read goes at least that far, so the rebuilt tables miss nothing it applied.
      await lockProjections(trx);
      for await (const batch of store.readAll({ from: position + 1, batchSize })) {
        await foldInto(trx, batch);
        onProgress?.({ phase: 'catch-up', events, position, target });
      }
      for (const table of moveCheckpointTable ? [...tables, CHECKPOINT_TABLE] : tables) {
        await sql`drop table if exists ${sql.id(liveSchema, table)}`.execute(trx);
        await sql`alter table ${sql.id(shadow, table)} set schema ${sql.id(liveSchema)}`.execute(trx);
      }
      await setCheckpoint(trx.withSchema(liveSchema), projectorName, position);
    });
    onProgress?.({ phase: 'swapped', events, position, target });
  } finally {
    // Best effort: after a failure the original error matters more, after a swap the leftover
    // schema holds only migration bookkeeping.
    await sql`drop schema if exists ${sql.id(shadow)} cascade`.execute(db).catch(() => undefined);
  }
  return { events, position, ms: performance.now() - started };
};
