import { cliContext, type GlobalOptions } from './context.js';
import { readActorById, withEventStore } from './eventStoreTool.js';
import { abridged, table } from './format.js';

export interface HistoryOptions extends GlobalOptions {
  readonly kind?: string;
  readonly json?: boolean;
}

/** `daqflow history <id>`: the actor's transitions, read from the event stream itself. */
export const runHistory = async (id: string, options: HistoryOptions): Promise<void> => {
  const context = cliContext(options, { logLevel: 'warn' });
  await withEventStore(context, async (store) => {
    const { kind, events } = await readActorById(store, id, options.kind);
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ kind, id, events }, null, 2)}\n`);
      return;
    }
    process.stdout.write(`${kind} ${id}: ${events.length} transitions\n`);
    process.stdout.write(
      `${table(
        ['V', 'TIME', 'EVENT', 'FROM', 'TO', 'POSITION', 'DATA'],
        events.map((e) => [
          String(e.version),
          e.time,
          e.type,
          e.previousState ?? '(new)',
          e.state,
          String(e.position),
          abridged(e.data, 50),
        ]),
      )}\n`,
    );
  });
};
