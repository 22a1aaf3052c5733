import type { CommandPreparer } from '../natsApi/actorService.js';
import type { z } from 'zod';

/** What a preparer may be told besides the body: the time it resolves against, the firing schedule. */
export interface PrepareContext {
  /** "Now" for the API; the fire time for a schedule, so that a late fire grabs the window it was meant to. */
  readonly reference: Date;
  readonly scheduleId?: string | null;
}

export interface ContextualPreparer {
  readonly requestSchema: z.ZodType;
  prepare(body: Record<string, unknown>, context: PrepareContext): Promise<unknown>;
}

/** Preparers by kind, then command. */
export type Preparers = Readonly<Record<string, Readonly<Record<string, ContextualPreparer>>>>;

/** The API's view of a kind's preparers: resolved against the clock at request time. */
export const apiPreparers = (
  preparers: Preparers,
  kind: string,
  clock: () => Date,
): Readonly<Record<string, CommandPreparer>> | undefined => {
  const ofKind = preparers[kind];
  if (!ofKind) return undefined;
  return Object.fromEntries(
    Object.entries(ofKind).map(([name, p]) => [
      name,
      { requestSchema: p.requestSchema, prepare: (body: Record<string, unknown>) => p.prepare(body, { reference: clock() }) },
    ]),
  );
};
