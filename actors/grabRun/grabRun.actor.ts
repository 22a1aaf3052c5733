import { z } from 'zod';
import { command, type ActorDefinition, type EffectRequest } from '../runtime/actorDefinition.js';
import type { AssembleParams, FetchChunkParams } from './grabRun.effects.js';
import { grabRunEventSchemas } from './grabRun.events.js';
import { grabRunMachine, type GrabRunContext } from './grabRun.machine.js';
import { chunkOf, slicesOf } from './grabPlan.js';

const planOf = (c: GrabRunContext) => ({
  parameters: c.parameters,
  startMs: Date.parse(c.start),
  stopMs: Date.parse(c.stop),
  chunkSeconds: c.chunkSeconds,
});

/**
 * The summary stored with every event: brief §3's `{id, state, outputFile, progress, error?}`
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
export const grabRunActor: ActorDefinition<typeof grabRunMachine> = {
  kind: 'grab',
  machine: grabRunMachine,
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
    if (snapshot.value === 'fetching') {
      const chunk = chunkOf(planOf(c), c.cursor);
      const params: FetchChunkParams = {
        mode: c.mode,
        index: c.cursor,
        attempt: c.attempt,
        parameter: chunk.parameter,
        from: chunk.from,
        to: chunk.to,
        draftDir: c.draftDir,
      };
      return [{ type: 'fetchChunk', params }];
    }
    if (snapshot.value === 'assembling') {
      const params: AssembleParams = {
        mode: c.mode,
        parameters: c.parameters,
        start: c.start,
        stop: c.stop,
        created: c.createdAt ?? c.start,
        draftDir: c.draftDir,
        outDir: c.outDir,
        chunks: c.cursor,
        slices: slicesOf(planOf(c)),
      };
      return [{ type: 'assemble', params }];
    }
    return [];
  },
};
