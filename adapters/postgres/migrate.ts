import { DatabaseSettingError } from './databaseRefusal.js';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Migrator, type Kysely, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';

/** Absolute path of the migrations folder, independent of the process's working directory. */
export const migrationFolder = fileURLToPath(new URL('../../migrations', import.meta.url));

const isMigrationFile = (name: string): boolean =>
  /\.(?:[cm]?js|[cm]?ts)$/.test(name) && !/\.d\.[cm]?ts$/.test(name) && !/\.spec\./.test(name);

/**
 * kysely's FileMigrationProvider, except that the dynamic import runs from this module: its own
 * import sits inside node_modules, where vitest does not transform, so `.ts` files fail there.
 * Here they load under vitest and under tsx alike. Keys are file names without extension.
 */
export const folderMigrationProvider = (folder: string = migrationFolder): MigrationProvider => ({
  async getMigrations() {
    const migrations: Record<string, Migration> = {};
    for (const fileName of (await fs.readdir(folder)).filter(isMigrationFile).sort()) {
      const module = (await import(pathToFileURL(path.join(folder, fileName)).href)) as Partial<Migration>;
      if (typeof module.up !== 'function') throw new Error(`migration ${fileName} exports no up()`);
      migrations[fileName.slice(0, fileName.lastIndexOf('.'))] = module as Migration;
    }
    return migrations;
  },
});

export interface MigrateOptions {
  /** Run the migrations into this schema (created when missing), with its own migration table. */
  readonly schema?: string;
}

/**
 * Migrates to the newest migration. Returns kysely's result set; throws when a migration fails,
 * naming it (earlier migrations of the run stay applied, the failed one is rolled back).
 */
export const migrateToLatest = async <DB>(
  db: Kysely<DB>,
  options: MigrateOptions = {},
): Promise<MigrationResultSet> => {
  const { schema } = options;
  const migrator = new Migrator({
    // withSchema qualifies every unqualified table of the migrations, indexes included.
    db: schema === undefined ? db : db.withSchema(schema),
    provider: folderMigrationProvider(),
    ...(schema === undefined ? {} : { migrationTableSchema: schema }),
  });
  const resultSet = await migrator.migrateToLatest();
  if (resultSet.error !== undefined) {
    const failed = resultSet.results?.find((r) => r.status === 'Error')?.migrationName;
    const where = schema === undefined ? '' : ` (schema ${schema})`;
    const cause = resultSet.error;
    // A refused login or certificate (createDb) says all there is to say, naming the setting.
    if (failed === undefined && cause instanceof DatabaseSettingError) throw cause;
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new Error(
      failed === undefined
        ? `migrations${where} did not run: ${reason}`
        : `migration ${failed} failed${where}: ${reason}`,
      { cause },
    );
  }
  return resultSet;
};
