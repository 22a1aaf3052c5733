import { z } from 'zod';
import { command, type ActorDefinition, type EffectRequest } from '../runtime/actorDefinition.js';
import { grabRunEventSchemas } from './grabRun.events.js';
import { assembleParams, fetchParams, grabRunMachine, grabRunEffectActions, type GrabRunContext } from './grabRun.machine.js';

/**
 * The summary stored with every event: the `{id, state, outputFile, progress, error?}` of docs/api.md
 * plus the window and a parameter count. The list itself is in `details` (live replies only):
 * repeated in each of thousands of chunk events it would cost more than the chunks' own data.
 */
const summaryOf = (c: GrabRunContext): Record<string, unknown> => ({
  mode: c.mode,
  parameterCount: c.parameters.length,
  window: { start: c.start, stop: c.stop },
  outputFile: c.outputFile,
  progress: {
    chunksDone: c.cursor,
    chunksTotal: c.chunks,
    samples: c.samples,
    bytes: c.bytes,
    attempt: c.attempt,
    retryAt: c.deadlines.retry?.at ?? null,
    lastFailure: c.lastFailure,
  },
  source: c.source,
  scheduleId: c.scheduleId,
  createdAt: c.createdAt,
  finishedAt: c.finishedAt,
  ...(c.error ? { error: c.error } : {}),
});

/**
 * The grab-run actor. Its creating command takes the request already resolved (window, folders,
 * defaults) by `prepareGrabStart` in the adapters, because resolving needs the clock, the zone,
 * the source and the file system; the stored `requested` event is therefore self-contained.
 */
export const grabRunActor: ActorDefinition<typeof grabRunMachine, typeof grabRunEffectActions> = {
  kind: 'grab',
  machine: grabRunMachine,
  effects: grabRunEffectActions,
  eventSchemas: grabRunEventSchemas,
  commands: {
    start: command({
      creates: true,
      schema: grabRunEventSchemas.requested.schema.strict(),
      toEvent: (p) => ({ type: 'requested', data: p }),
    }),
    cancel: command({
      schema: z.strictObject({ reason: z.string().max(1_000).default('') }),
      toEvent: (p) => ({ type: 'cancelled', data: { reason: p.reason } }),
    }),
  },
  summary: (snapshot) => summaryOf(snapshot.context),
  details: (snapshot) => ({ parameters: snapshot.context.parameters }),
  recover: (snapshot): EffectRequest[] => {
    const c = snapshot.context;
    if (snapshot.value === 'fetching') return [{ type: 'fetchChunk', params: fetchParams(c, c.cursor, c.attempt) }];
    if (snapshot.value === 'assembling') return [{ type: 'assemble', params: assembleParams(c, c.cursor) }];
    return [];
  },
};
