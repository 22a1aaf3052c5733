import type { Kysely } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import { createDb } from '../../adapters/postgres/createDb.js';
import { migrateToLatest } from '../../adapters/postgres/migrate.js';
import type { Database } from '../../projections/database.js';
import { uniqueToken } from './testNames.js';

export interface TestDatabase {
  /** URL of the fresh database (same server and user as the admin URL). */
  readonly url: string;
  /** Migrated to latest, unless made with `migrate: false`. */
  readonly db: Kysely<Database>;
  /** Closes `db` and drops the database, disconnecting anyone still on it. */
  drop(): Promise<void>;
}

const asAdmin = async (sql: string): Promise<void> => {
  const client = new pg.Client({ connectionString: inject('pgAdminUrl') });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
};

export interface TestDatabaseOptions {
  /** Run the migrations (default true); false leaves the database empty. */
  readonly migrate?: boolean;
}

/** A fresh database on the run's PostgreSQL server, migrated unless told otherwise, for one spec file. */
export const createTestDatabase = async (options: TestDatabaseOptions = {}): Promise<TestDatabase> => {
  const name = `t_${uniqueToken()}`;
  await asAdmin(`create database ${name}`);
  const url = new URL(inject('pgAdminUrl'));
  url.pathname = `/${name}`;
  const db = createDb(url.toString(), { max: 6 });
  try {
    if (options.migrate !== false) await migrateToLatest(db);
  } catch (e) {
    await db.destroy();
    await asAdmin(`drop database if exists ${name} with (force)`);
    throw e;
  }
  return {
    url: url.toString(),
    db,
    drop: async () => {
      await db.destroy();
      await asAdmin(`drop database if exists ${name} with (force)`);
    },
  };
};

/**
 * A fresh, migrated database for the enclosing suite: made before its first test and dropped
 * after its last (call it before the suite's own hooks, so that their cleanup runs first). Its
 * fields can be read in hooks and tests only.
 */
export const useTestDatabase = (): TestDatabase => {
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });
  const current = (): TestDatabase => {
    if (database === undefined) throw new Error('the test database exists only in hooks and tests, after beforeAll');
    return database;
  };
  return {
    get url() {
      return current().url;
    },
    get db() {
      return current().db;
    },
    drop: () => current().drop(),
  };
};

/** Every index the migrations create, by name in sorted order. */
export const migratedIndexes: readonly string[] = [
  'actor_status_id_idx',
  'actor_status_pkey',
  'actor_status_state_idx',
  'actor_status_updated_at_idx',
  'actor_transition_id_version_idx',
  'actor_transition_kind_id_version_key',
  'actor_transition_pkey',
  'grab_statistics_parameter_window_start_idx',
  'grab_statistics_pkey',
  'projection_checkpoint_pkey',
];
