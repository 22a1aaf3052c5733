import { listActors } from '../../projections/actorStatus.projection.js';
import { createDb } from '../postgres/createDb.js';
import { DaqflowError } from '../../events/errors.js';
import { cliContext, toolServers, type GlobalOptions } from './context.js';
import { brief, table } from './format.js';

export interface StatusOptions extends GlobalOptions {
  readonly kind?: string;
  readonly state?: string;
  /** Always set: the flag has a default. */
  readonly limit: string;
  readonly json?: boolean;
}

/** `daqflow status`: the status rows of the projections, newest first. */
export const runStatus = async (options: StatusOptions): Promise<void> => {
  const context = cliContext(options, { logLevel: 'warn' });
  const servers = await toolServers(context);
  const db = createDb(servers.databaseUrl, { max: 2 });
  try {
    // A read-only tool: it does not migrate a database a running daqflow of another version uses.
    const rows = await listActors(db, { kind: options.kind, state: options.state, limit: Number(options.limit) }).catch(
      (e: unknown) => {
        if ((e as { code?: string }).code === '42P01') {
          throw new DaqflowError('WRONG_STATE', 'this database has no status tables yet: run `daqflow migrate` or start `daqflow up`');
        }
        throw e;
      },
    );
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ items: rows }, null, 2)}\n`);
      return;
    }
    if (rows.length === 0) {
      process.stdout.write('no actors yet (start one: npx daqflow demo)\n');
      return;
    }
    process.stdout.write(
      `${table(
        ['KIND', 'ID', 'STATE', 'VERSION', 'UPDATED', 'SUMMARY'],
        rows.map((r) => [r.kind, r.id, r.state, String(r.version), new Date(r.updated_at).toISOString(), brief(r.summary)]),
      )}\n`,
    );
  } finally {
    await db.destroy();
    await servers.stop();
  }
};
