import { Migrator, NO_MIGRATIONS, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { migratedIndexes, useTestDatabase, type TestDatabase } from '../../test/harness/testDatabase.js';
import { folderMigrationProvider, migrateToLatest } from './migrate.js';

const tablesIn = async (t: TestDatabase, schema: string): Promise<string[]> => {
  const { rows } = await sql<{ tablename: string }>`
    select tablename from pg_catalog.pg_tables where schemaname = ${schema} order by tablename
  `.execute(t.db);
  return rows.map((r) => r.tablename);
};

const indexesIn = async (t: TestDatabase, schema: string): Promise<string[]> => {
  const { rows } = await sql<{ indexname: string }>`
    select indexname from pg_catalog.pg_indexes where schemaname = ${schema} order by indexname
  `.execute(t.db);
  return rows.map((r) => r.indexname);
};

const projectionTables = ['actor_status', 'actor_transition', 'grab_statistics', 'projection_checkpoint'];

describe('migrateToLatest', () => {
  const t = useTestDatabase();

  it('migrates a fresh database: tables, indexes and the migration table in public', async () => {
    expect(await tablesIn(t, 'public')).toEqual([
      ...projectionTables.slice(0, 3),
      'kysely_migration',
      'kysely_migration_lock',
      projectionTables[3],
    ]);
    expect(await indexesIn(t, 'public')).toEqual(expect.arrayContaining([...migratedIndexes]));
    const applied = await t.db
      .withTables<{ kysely_migration: { name: string } }>()
      .selectFrom('kysely_migration')
      .select('name')
      .orderBy('name')
      .execute();
    expect(applied.map((r) => r.name)).toEqual([
      '2026_11_22_000100_create_projection_checkpoint',
      '2026_11_22_000200_create_actor_status',
      '2026_11_22_000300_create_actor_transition',
      '2026_11_22_000400_create_grab_statistics',
    ]);
  });

  it('is a no-op the second time', async () => {
    const { results, error } = await migrateToLatest(t.db);
    expect(error).toBeUndefined();
    expect(results).toEqual([]);
  });

  it('migrates into another schema, indexes and migration table included, and back down', async () => {
    const schema = 'elsewhere';
    const first = await migrateToLatest(t.db, { schema });
    expect(first.results?.map((r) => r.status)).toEqual(['Success', 'Success', 'Success', 'Success']);
    expect(await tablesIn(t, schema)).toEqual([
      ...projectionTables.slice(0, 3),
      'kysely_migration',
      'kysely_migration_lock',
      projectionTables[3],
    ]);
    expect((await indexesIn(t, schema)).filter((i) => !i.startsWith('kysely_'))).toEqual(
      migratedIndexes,
    );
    expect((await migrateToLatest(t.db, { schema })).results).toEqual([]);

    const migrator = new Migrator({
      db: t.db.withSchema(schema),
      provider: folderMigrationProvider(),
      migrationTableSchema: schema,
    });
    const down = await migrator.migrateTo(NO_MIGRATIONS);
    expect(down.error).toBeUndefined();
    expect(await tablesIn(t, schema)).toEqual(['kysely_migration', 'kysely_migration_lock']);
    expect(await tablesIn(t, 'public')).toEqual(expect.arrayContaining(projectionTables));
  });

  it('names the failed migration when one fails', async () => {
    await sql`create schema broken`.execute(t.db);
    await sql`create table broken.actor_status (kind text)`.execute(t.db);
    await expect(migrateToLatest(t.db, { schema: 'broken' })).rejects.toThrow(
      /migration 2026_11_22_000200_create_actor_status failed \(schema broken\)/,
    );
  });

  it('returns int8 columns as numbers', async () => {
    const row = await sql<{ big: unknown; count: unknown }>`
      select 9007199254740991::bigint as big, count(*) as count from actor_status
    `.execute(t.db);
    expect(row.rows[0]).toEqual({ big: Number.MAX_SAFE_INTEGER, count: 0 });
  });
});
