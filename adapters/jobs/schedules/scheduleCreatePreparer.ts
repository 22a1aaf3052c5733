import type { z } from 'zod';
import type { ActorDefinition } from '../../../actors/runtime/actorDefinition.js';
import { scheduleCreateSchema } from '../../../actors/schedules/index.js';
import { ValidationError } from '../../../events/errors.js';
import type { CommandPreparer } from '../../natsApi/actorService.js';

export interface ScheduleCreatePreparerOptions {
  /** The configured zone (DAQFLOW_TIMEZONE): a schedule given none runs in it. */
  readonly timeZone: string;
  /** The kinds a schedule may fire (the runtime's definitions). */
  readonly definitions: readonly ActorDefinition[];
  /**
   * The request body schema of a target command the API prepares (grab start takes a request
   * that a preparer resolves); absent or undefined: the command's own payload schema.
   */
  readonly requestSchemaOf?: (kind: string, command: string) => z.ZodType | undefined;
}

const refuse = (path: string[], message: string): never => {
  throw new ValidationError(`invalid schedule create: ${path.join('.')}: ${message}`, [{ path, message }]);
};

/**
 * Prepares `schedules.create`: fills in the configured time zone (a machine cannot read the
 * host's), and checks the target now, so that a typo in a kind, a command or a payload is a 400
 * at `schedule add` instead of a failed fire at 01:00. What only the fire can know (the data
 * logger has the parameters?) is still checked then.
 */
export const scheduleCreatePreparer = (options: ScheduleCreatePreparerOptions): CommandPreparer => ({
  requestSchema: scheduleCreateSchema,
  prepare: async (body) => {
    const target = body.target as { kind?: unknown; command?: unknown; payload?: unknown } | undefined;
    if (target && typeof target === 'object' && typeof target.kind === 'string' && typeof target.command === 'string') {
      const definition = options.definitions.find((d) => d.kind === target.kind);
      if (!definition) {
        refuse(['target', 'kind'], `no actor kind ${target.kind} (known: ${options.definitions.map((d) => d.kind).join(', ')})`);
      }
      const creating = Object.entries(definition?.commands ?? {})
        .filter(([, spec]) => spec.creates)
        .map(([name]) => name);
      const spec = definition?.commands[target.command];
      if (!spec?.creates) {
        refuse(['target', 'command'], `${target.command} does not create a ${target.kind} (use ${creating.join(', ')})`);
      }
      const schema = options.requestSchemaOf?.(target.kind, target.command) ?? spec?.schema;
      const checked = schema?.safeParse(target.payload ?? {});
      if (checked && !checked.success) {
        const issue = checked.error.issues[0];
        refuse(['target', 'payload', ...(issue?.path ?? []).map(String)], issue?.message ?? 'not accepted');
      }
    }
    return body.timeZone === undefined ? { ...body, timeZone: options.timeZone } : body;
  },
});
