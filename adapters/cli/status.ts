import type { Kysely } from 'kysely';
import { listActors } from '../../projections/actorStatus.projection.js';
import type { Database } from '../../projections/database.js';
import { createDb } from '../postgres/createDb.js';
import { DaqflowError } from '../../events/errors.js';
import { projectionLagText, readProjectionLag, type ProjectionLag } from '../app/projectionLag.js';
import { eventSubjectPrefix } from '../app/startDaqflow.js';
import { closeNats, connectNats } from '../jetstream/connection.js';
import { createJetStreamEventStore } from '../jetstream/jetstreamEventStore.js';
import { cliContext, toolServers, type GlobalOptions } from './context.js';
import { brief, lostPulsesText, red, table } from './format.js';
import { scheduleTable } from './scheduleTable.js';

export interface StatusOptions extends GlobalOptions {
  readonly kind?: string;
  readonly state?: string;
  /** Always set: the flag has a default. */
  readonly limit: string;
  readonly json?: boolean;
}

/** An acquisition's row: its pulses and file, and its lost pulses (red on a terminal). */
const acquisitionText = (summary: Record<string, unknown>, tty: boolean): string => {
  const file = typeof summary.outputFile === 'string' ? (summary.outputFile.split('/').at(-1) ?? '') : '-';
  const lost = summary.lostPulses as Parameters<typeof lostPulsesText>[0] | undefined;
  const text = [
    `${String(summary.pulsesWritten ?? 0)} pulses, ${String(summary.missingPulses ?? 0)} missing`,
    file,
    ...(typeof summary.error === 'string' ? [`error: ${summary.error}`] : []),
  ].join(', ');
  const cut = text.length > 80 ? `${text.slice(0, 79)}…` : text;
  return lost === undefined ? cut : `${cut}, ${red(lostPulsesText(lost, 3), tty)}`;
};

/** What a status row says in one line: a grab's progress and file, an acquisition's pulses, else the summary's first fields. */
const summaryText = (kind: string, summary: Record<string, unknown>, tty = false): string => {
  if (kind === 'acquisition') return acquisitionText(summary, tty);
  if (kind === 'grab') {
    const p = summary.progress as { chunksDone?: number; chunksTotal?: number; samples?: number; retryAt?: string | null } | undefined;
    const parameters = typeof summary.parameterCount === 'number' ? summary.parameterCount : 0;
    const parts = [
      `${parameters} ${summary.mode === 'events' ? 'channels' : 'parameters'}`,
      `${p?.chunksDone ?? 0}/${p?.chunksTotal ?? 0} chunks`,
      `${p?.samples ?? 0} samples`,
      ...(p?.retryAt ? [`retry at ${p.retryAt}`] : []),
      ...(typeof summary.outputFile === 'string' ? [summary.outputFile.split('/').at(-1) ?? ''] : []),
      ...(typeof summary.error === 'string' ? [`error: ${summary.error}`] : []),
    ];
    const text = parts.join(', ');
    return text.length > 100 ? `${text.slice(0, 99)}…` : text;
  }
  return brief(summary);
};

/**
 * How far the projections trail the stream, or why that cannot be told: the rows print either
 * way, so a stream that cannot be read costs the line, not the command.
 */
const lagOf = async (
  context: ReturnType<typeof cliContext>,
  natsUrl: string,
  db: Kysely<Database>,
): Promise<ProjectionLag | { readonly error: string }> => {
  try {
    const nc = await connectNats(natsUrl, 'daqflow-cli');
    try {
      const store = createJetStreamEventStore({ nc, stream: context.config.stream, subjectPrefix: eventSubjectPrefix(context.config) });
      return await readProjectionLag(db, store);
    } finally {
      await closeNats(nc);
    }
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
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
    const lag = await lagOf(context, servers.natsUrl, db);
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ items: rows, projections: lag }, null, 2)}\n`);
      return;
    }
    const lagLine = 'error' in lag ? `projections: lag unknown (${lag.error})` : projectionLagText(lag);
    if (rows.length === 0) {
      process.stdout.write(`no actors yet (start one: npx daqflow demo)\n${lagLine}\n`);
      return;
    }
    process.stdout.write(
      `${table(
        ['KIND', 'ID', 'STATE', 'VERSION', 'UPDATED', 'SUMMARY'],
        rows.map((r) => [r.kind, r.id, r.state, String(r.version), new Date(r.updated_at).toISOString(), summaryText(r.kind, r.summary, process.stdout.isTTY === true)]),
      )}\n`,
    );
    if (options.kind === undefined || options.kind === 'schedule') {
      // Read apart from the rows above: the limit and the newest-first order must not hide a
      // schedule that fires once a night. Removed ones are shown only when asked for by state.
      const schedules = (await listActors(db, { kind: 'schedule', state: options.state, limit: 1000 })).filter(
        (r) => options.state !== undefined || !r.final,
      );
      if (schedules.length) process.stdout.write(`\nSCHEDULES\n${scheduleTable(schedules)}\n`);
    }
    process.stdout.write(`\n${lagLine}\n`);
  } finally {
    await db.destroy();
    await servers.stop();
  }
};
