import type { Kysely } from 'kysely';
import pg from 'pg';
import { inject } from 'vitest';
import { createDb } from '../../adapters/postgres/createDb.js';
import { migrateToLatest } from '../../adapters/postgres/migrate.js';
import type { Database } from '../../projections/database.js';
import { uniqueToken } from './testNames.js';

export interface TestDatabase {
  /** URL of the fresh database (same server and user as the admin URL). */
  readonly url: string;
  /** Migrated to latest. */
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

/** A fresh, migrated database on the run's PostgreSQL server, for one spec file. */
export const createTestDatabase = async (): Promise<TestDatabase> => {
  const name = `t_${uniqueToken()}`;
  await asAdmin(`create database ${name}`);
  const url = new URL(inject('pgAdminUrl'));
  url.pathname = `/${name}`;
  const db = createDb(url.toString(), { max: 6 });
  try {
    await migrateToLatest(db);
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
