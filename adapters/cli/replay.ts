import { allActorDefinitions } from '../jobs/registry.js';
import { rehydrate, rehydrateAt } from '../../actors/runtime/rehydrate.js';
import { stateOf } from '../../actors/runtime/stateOf.js';
import { ValidationError } from '../../events/errors.js';
import { allProjections } from '../jobs/registry.js';
import { rebuildRetrying } from '../app/rebuildRetrying.js';
import { createDb } from '../postgres/createDb.js';
import { migrateToLatest } from '../postgres/migrate.js';
import { cliContext, type GlobalOptions } from './context.js';
import { readActorById, withEventStore } from './eventStoreTool.js';
import { parseTime, progressBar } from './format.js';

/** `daqflow replay projections`: rebuilds every projection from the stream, blue-green. */
export const runReplayProjections = async (options: GlobalOptions): Promise<void> => {
  const context = cliContext(options, { logLevel: 'warn' });
  await withEventStore(context, async (store, servers) => {
    const db = createDb(servers.databaseUrl, { max: 4 });
    try {
      await migrateToLatest(db);
      const tty = process.stderr.isTTY === true;
      let lastPrint = 0;
      const result = await rebuildRetrying({
        logger: context.logger,
        onRestart: (attempt) => process.stderr.write(`${tty ? '\n' : ''}PostgreSQL is back: the rebuild starts again (attempt ${attempt})\n`),
        db,
        store,
        projections: allProjections,
        prepareSchema: (schema) => migrateToLatest(db, { schema }),
        onProgress: (p) => {
          const now = Date.now();
          if (p.phase === 'fold' && now - lastPrint < 500) return;
          lastPrint = now;
          const line = `${p.phase.padEnd(8)} ${progressBar(p.position, p.target)} ${p.events} events, position ${p.position}/${p.target}`;
          process.stderr.write(tty ? `\r${line}` : `${line}\n`);
        },
      });
      if (tty) process.stderr.write('\n');
      process.stdout.write(
        `rebuilt ${allProjections.map((p) => p.name).join(', ')}: ${result.events} events up to position ${result.position} in ${Math.round(result.ms)} ms\n`,
      );
    } finally {
      await db.destroy();
    }
  });
};

export interface ReplayActorOptions extends GlobalOptions {
  readonly at?: string;
  readonly kind?: string;
  readonly json?: boolean;
}

/** `daqflow replay actor <id> [--at TIME]`: the state the actor had then, folded from its events. */
export const runReplayActor = async (id: string, options: ReplayActorOptions): Promise<void> => {
  const context = cliContext(options, { logLevel: 'warn' });
  const at = options.at === undefined ? undefined : parseTime(options.at);
  if (options.at !== undefined && !at) {
    throw new ValidationError(`--at ${options.at}: not a time (use ISO 8601 like 2026-11-22T10:00:00Z, or -30m, -2h, -1d)`);
  }
  await withEventStore(context, async (store) => {
    const { kind, events } = await readActorById(store, id, options.kind);
    const definition = allActorDefinitions.find((d) => d.kind === kind);
    if (!definition) throw new ValidationError(`no actor kind ${kind} in this version of daqflow`);
    const folded = at ? rehydrateAt(definition, id, events, at) : { ...rehydrate(definition, id, events), events: events.length };
    const result = {
      kind,
      id,
      at: at?.toISOString() ?? null,
      eventsFolded: folded.events,
      version: folded.version,
      state: folded.version === 0 ? 'not yet created' : stateOf(folded.snapshot),
      context: folded.snapshot.context as unknown,
    };
    if (options.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return;
    }
    process.stdout.write(
      `${kind} ${id}${at ? ` at ${at.toISOString()}` : ' now'}: ${result.state} (version ${result.version}, ${result.eventsFolded} of ${events.length} events)\n` +
        `${JSON.stringify(result.context, null, 2)}\n`,
    );
  });
};
