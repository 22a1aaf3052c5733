import { createDb } from '../postgres/createDb.js';
import { migrateToLatest } from '../postgres/migrate.js';
import { cliContext, toolServers, type GlobalOptions } from './context.js';

/** `daqflow migrate`: brings the database schema to the latest migration and lists what ran. */
export const runMigrate = async (options: GlobalOptions): Promise<void> => {
  const context = cliContext(options, { logLevel: 'warn' });
  const servers = await toolServers(context);
  const db = createDb(servers.databaseUrl, { max: 1 });
  try {
    const { results } = await migrateToLatest(db);
    const ran = results ?? [];
    for (const r of ran) process.stdout.write(`${r.status.padEnd(10)} ${r.migrationName}\n`);
    process.stdout.write(ran.length ? `${ran.length} migrations applied\n` : 'database is up to date\n');
  } finally {
    await db.destroy();
    await servers.stop();
  }
};
