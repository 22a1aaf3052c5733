import type { Kysely } from 'kysely';
import { listActors } from '../../projections/actorStatus.projection.js';
import type { Database } from '../../projections/database.js';
import { createDb } from '../postgres/createDb.js';
import { DaqflowError, messageOf } from '../../events/errors.js';
import { projectionLagText, readProjectionLag, type ProjectionLag } from '../app/projectionLag.js';
import { eventSubjectPrefix } from '../app/startDaqflow.js';
import { closeNats, connectNats } from '../jetstream/connection.js';
import { createJetStreamEventStore } from '../jetstream/jetstreamEventStore.js';
import { cliContext, toolServers, type GlobalOptions } from './context.js';
import { abridged, table } from './format.js';
import { jobModules } from '../jobs/registry.js';
import type { ProcessPresence } from '../ownership/leaseManager.js';
import { ownedTotal, readOwners, readPresence, type ActorOwner } from '../ownership/readPresence.js';

export interface StatusOptions extends GlobalOptions {
  readonly kind?: string;
  readonly state?: string;
  /** Always set: the flag has a default. */
  readonly limit: string;
  readonly json?: boolean;
}

/** What a status row says in one line: the kind's own text when its module has one, else the summary's first fields. */
const summaryText = (kind: string, summary: Record<string, unknown>, tty = false): string => {
  const module = jobModules.find((m) => m.storedKind === kind);
  return module?.statusText ? module.statusText(summary, tty) : abridged(summary);
};

/** What could not be read, and why: its section says so, the rest of the command goes on. */
interface Unreadable {
  readonly error: string;
}
const unreadable = (e: unknown): Unreadable => ({ error: messageOf(e) });

/**
 * From NATS: how far the projections trail the stream, and the processes with their leases; for
 * each, why it cannot be told. The rows print either way, so a stream that cannot be read costs
 * these sections, not the command.
 */
const readFromNats = async (
  context: ReturnType<typeof cliContext>,
  natsUrl: string,
  db: Kysely<Database>,
  unfinished: ReadonlyArray<{ kind: string; id: string }>,
): Promise<{ lag: ProjectionLag | Unreadable; processes: ProcessPresence[] | Unreadable; owners: ActorOwner[] | Unreadable }> => {
  try {
    const nc = await connectNats(natsUrl, 'daqflow-cli');
    try {
      const store = createJetStreamEventStore({ nc, stream: context.config.stream, subjectPrefix: eventSubjectPrefix(context.config) });
      const lag = await readProjectionLag(db, store).catch(unreadable);
      const processes = await readPresence(nc, context.config.stream).catch(unreadable);
      const owners = 'error' in processes ? processes : await readOwners(nc, context.config.stream, unfinished, processes).catch(unreadable);
      return { lag, processes, owners };
    } finally {
      await closeNats(nc);
    }
  } catch (e) {
    return { lag: unreadable(e), processes: unreadable(e), owners: unreadable(e) };
  }
};

/**
 * Unfinished actors of the rows shown that no live process owns: waiting for one that may take
 * them (an acquisition: a process on its node, or one that receives its writer's stream).
 */
const unownedText = (owners: ActorOwner[] | Unreadable): string => {
  if ('error' in owners) return `owners: unknown (${owners.error})`;
  const unowned = owners.filter((o) => o.process === null);
  if (unowned.length === 0) return '';
  return `unowned (no live process may or did take them yet)\n${table(
    ['KIND', 'ID', 'LEASE'],
    unowned.map((o) => [o.kind, o.id, o.goneOwner === null ? 'never claimed' : `held by ${o.goneOwner}, gone`]),
  )}`;
};

/** The processes section: one line each, what it runs and how many actors it owns. */
const processesText = (processes: ProcessPresence[] | Unreadable): string => {
  if ('error' in processes) return `processes: unknown (${processes.error})`;
  if (processes.length === 0) return 'processes: none running';
  return `processes\n${table(
    ['NODE', 'PROCESS', 'PID', 'ROLES', 'OWNS', 'PROJECTOR', 'RENEWED'],
    processes.map((p) => [
      p.node,
      p.process,
      String(p.pid),
      p.roles.join(','),
      `${ownedTotal(p)}${ownedTotal(p) ? ` (${Object.entries(p.owned).map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`,
      p.projector ? 'runs' : '-',
      p.renewedAt,
    ]),
  )}`;
};

/** `daqflow status`: the status rows of the projections, newest first, then the schedules, then the projections' lag. */
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
    const unfinished = rows.filter((r) => !r.final).map((r) => ({ kind: r.kind, id: r.id }));
    const { lag, processes, owners } = await readFromNats(context, servers.natsUrl, db, unfinished);
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ items: rows, projections: lag, processes, owners }, null, 2)}\n`);
      return;
    }
    const lagLine = 'error' in lag ? `projections: lag unknown (${lag.error})` : projectionLagText(lag);
    if (rows.length === 0) {
      process.stdout.write(`no actors yet (start one: npx daqflow demo)\n${lagLine}\n\n${processesText(processes)}\n`);
      return;
    }
    process.stdout.write(
      `${table(
        ['KIND', 'ID', 'STATE', 'VERSION', 'UPDATED', 'SUMMARY'],
        rows.map((r) => [r.kind, r.id, r.state, String(r.version), new Date(r.updated_at).toISOString(), summaryText(r.kind, r.summary, process.stdout.isTTY === true)]),
      )}\n`,
    );
    for (const module of jobModules) {
      if (!module.statusSection || (options.kind !== undefined && options.kind !== module.storedKind)) continue;
      const text = await module.statusSection.text(db, { state: options.state });
      if (text) process.stdout.write(`\n${module.statusSection.title}\n${text}\n`);
    }
    const unowned = unownedText(owners);
    process.stdout.write(`\n${lagLine}\n\n${processesText(processes)}\n${unowned ? `\n${unowned}\n` : ''}`);
  } finally {
    await db.destroy();
    await servers.stop();
  }
};
