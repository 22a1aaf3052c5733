import { and, assign, setup } from 'xstate';
import { effect, type Deadline } from '../runtime/actorDefinition.js';
import type { AssembleParams, DiscardParams, FetchChunkParams } from './grabRun.effects.js';
import type { GrabMode, GrabRunEvent, RetryPolicy } from './grabRun.events.js';
import { chunkCountOf, chunkOf, isLastSliceOf, slicesOf, type GrabPlan } from './grabPlan.js';

export interface GrabRunContext {
  readonly id: string;
  readonly mode: GrabMode;
  readonly parameters: readonly string[];
  readonly start: string;
  readonly stop: string;
  readonly chunkSeconds: number;
  readonly draftDir: string;
  readonly outDir: string;
  readonly source: string;
  readonly retry: RetryPolicy;
  readonly firstOnly: boolean;
  readonly scheduleId: string | null;
  /** Time of the `requested` event: names the file. */
  readonly createdAt: string | null;
  /** Chunks planned. */
  readonly chunks: number;
  /** The chunk being fetched: every chunk before it is written. */
  readonly cursor: number;
  /** Attempt of the chunk at the cursor (1 on the first try). */
  readonly attempt: number;
  readonly samples: number;
  readonly bytes: number;
  /** Samples per parameter so far (events mode stops at the first channel with any). */
  readonly parameterSamples: Readonly<Record<string, number>>;
  readonly lastFailure: string | null;
  readonly outputFile: string | null;
  readonly fileBytes: number | null;
  readonly finishedAt: string | null;
  readonly error: string | null;
  readonly deadlines: Readonly<Record<string, Deadline>>;
}

const planOf = (c: Pick<GrabRunContext, 'parameters' | 'start' | 'stop' | 'chunkSeconds'>): GrabPlan => ({
  parameters: c.parameters,
  startMs: Date.parse(c.start),
  stopMs: Date.parse(c.stop),
  chunkSeconds: c.chunkSeconds,
});

/** Backoff before attempt `attempt + 1`: doubles from the initial delay, capped. */
export const retryDelayMs = (retry: RetryPolicy, attempt: number): number =>
  Math.min(retry.maxDelayMs, retry.initialDelayMs * 2 ** Math.min(attempt - 1, 30));

const plusMs = (time: string, ms: number): string => new Date(Date.parse(time) + ms).toISOString();

/** What `fetchChunk` is asked for chunk `index`: also what recover() re-issues after a restart. */
export const fetchParams = (c: GrabRunContext, index: number, attempt: number): FetchChunkParams => {
  const chunk = chunkOf(planOf(c), index);
  return {
    mode: c.mode,
    index,
    attempt,
    parameter: chunk.parameter,
    from: chunk.from,
    to: chunk.to,
    draftDir: c.draftDir,
  };
};

/** What `assemble` is asked once `chunks` chunks are written: also what recover() re-issues. */
export const assembleParams = (c: GrabRunContext, chunks: number): AssembleParams => ({
  mode: c.mode,
  parameters: c.parameters,
  start: c.start,
  stop: c.stop,
  created: c.createdAt ?? c.start,
  draftDir: c.draftDir,
  outDir: c.outDir,
  chunks,
  slices: slicesOf(planOf(c)),
});

const discardParams = ({ context }: { context: GrabRunContext }): DiscardParams => ({ draftDir: context.draftDir });

type WrittenEvent = Extract<GrabRunEvent, { type: 'chunkWritten' }>;
type FailedEvent = Extract<GrabRunEvent, { type: 'chunkFailed' }>;

/** After chunk `cursor` is written: is that the end of the run? */
const isDoneAfter = (c: GrabRunContext, event: WrittenEvent): boolean => {
  if (c.cursor + 1 >= c.chunks) return true;
  if (c.mode === 'events' && c.firstOnly && isLastSliceOf(planOf(c), c.cursor)) {
    const samples = (c.parameterSamples[event.data.parameter] ?? 0) + event.data.samples;
    return samples > 0;
  }
  return false;
};

const failureText = (c: GrabRunContext, event: FailedEvent): string => {
  const chunk = chunkOf(planOf(c), event.data.index);
  return `${chunk.parameter} ${chunk.from} to ${chunk.to} (chunk ${event.data.index + 1} of ${c.chunks}), attempt ${event.data.attempt}: ${event.data.reason}: ${event.data.message}`;
};

const countChunk = ({ context, event }: { context: GrabRunContext; event: GrabRunEvent }): Partial<GrabRunContext> => {
  if (event.type !== 'chunkWritten') return {};
  return {
    samples: context.samples + event.data.samples,
    bytes: context.bytes + event.data.bytes,
    parameterSamples: {
      ...context.parameterSamples,
      [event.data.parameter]: (context.parameterSamples[event.data.parameter] ?? 0) + event.data.samples,
    },
  };
};

/** The effects this machine requests, with their params; `adapters/jobs/grabs/grabEffects.ts` implements them. */
export const grabRunEffectActions = {
  fetchChunk: effect<FetchChunkParams>(),
  assemble: effect<AssembleParams>(),
  discard: effect<DiscardParams>(),
};

/**
 * A grab run: the window is cut into chunks (one parameter over one slice, see grabPlan.ts),
 * fetched one after the other by the `fetchChunk` effect; each written chunk is an event, so a
 * restarted run continues at the first chunk without one. Source errors retry with exponential
 * backoff (a durable deadline) up to the policy's attempts, then the run fails with the reason.
 * When every chunk is written, `assemble` builds the HDF5 file and moves it to the out folder;
 * its event carries the run's statistics. Cancel works in every unfinished state.
 */
export const grabRunMachine = setup({
  types: {
    context: {} as GrabRunContext,
    events: {} as GrabRunEvent,
    input: {} as { id: string },
  },
  actions: {
    // Implemented by adapters/jobs/grabs/grabEffects.ts; the machine only names them.
    // The two ways out that every unfinished state shares.
    ...grabRunEffectActions,
    recordEffectFailure: assign(({ event }) =>
      event.type === 'effectFailed'
        ? { error: `${event.data.effect}: ${event.data.message}`, finishedAt: event.time, deadlines: {} }
        : {},
    ),
    recordCancel: assign(({ event }) =>
      event.type === 'cancelled' ? { error: event.data.reason || null, finishedAt: event.time, deadlines: {} } : {},
    ),
  },
  guards: {
    isCurrentChunk: ({ context, event }) =>
      (event.type === 'chunkWritten' || event.type === 'chunkFailed' || event.type === 'retryDue') &&
      event.data.index === context.cursor &&
      (event.type !== 'chunkFailed' || event.data.attempt === context.attempt) &&
      (event.type !== 'retryDue' || event.data.attempt === context.attempt + 1),
    isLastChunk: ({ context, event }) => event.type === 'chunkWritten' && isDoneAfter(context, event),
    mayRetry: ({ context, event }) =>
      event.type === 'chunkFailed' && event.data.retryable && event.data.attempt < context.retry.maxAttempts,
  },
}).createMachine({
  id: 'grabRun',
  context: ({ input }) => ({
    id: input.id,
    mode: 'parameters',
    parameters: [],
    start: '',
    stop: '',
    chunkSeconds: 3_600,
    draftDir: '',
    outDir: '',
    source: '',
    retry: { maxAttempts: 1, initialDelayMs: 0, maxDelayMs: 0 },
    firstOnly: false,
    scheduleId: null,
    createdAt: null,
    chunks: 0,
    cursor: 0,
    attempt: 1,
    samples: 0,
    bytes: 0,
    parameterSamples: {},
    lastFailure: null,
    outputFile: null,
    fileBytes: null,
    finishedAt: null,
    error: null,
    deadlines: {},
  }),
  initial: 'idle',
  states: {
    idle: {
      on: {
        requested: {
          target: 'fetching',
          actions: [
            assign(({ event }) => {
              const d = event.data;
              const plan = { parameters: d.parameters, start: d.start, stop: d.stop, chunkSeconds: d.chunkSeconds };
              return {
                ...plan,
                mode: d.mode,
                draftDir: d.draftDir,
                outDir: d.outDir,
                source: d.source,
                retry: d.retry,
                firstOnly: d.firstOnly,
                scheduleId: d.scheduleId,
                createdAt: event.time,
                chunks: chunkCountOf(planOf(plan)),
              };
            }),
            { type: 'fetchChunk', params: ({ context }) => fetchParams(context, 0, 1) },
          ],
        },
      },
    },
    fetching: {
      on: {
        chunkWritten: [
          {
            guard: and(['isCurrentChunk', 'isLastChunk']),
            target: 'assembling',
            actions: [
              assign(countChunk),
              assign(({ context }) => ({ cursor: context.cursor + 1, attempt: 1 })),
              { type: 'assemble', params: ({ context }) => assembleParams(context, context.cursor) },
            ],
          },
          {
            guard: 'isCurrentChunk',
            target: 'fetching',
            reenter: true,
            actions: [
              assign(countChunk),
              assign(({ context }) => ({ cursor: context.cursor + 1, attempt: 1 })),
              { type: 'fetchChunk', params: ({ context }) => fetchParams(context, context.cursor, 1) },
            ],
          },
        ],
        chunkFailed: [
          {
            guard: and(['isCurrentChunk', 'mayRetry']),
            target: 'backingOff',
            actions: assign(({ context, event }) => ({
              lastFailure: failureText(context, event),
              deadlines: {
                retry: {
                  at: plusMs(event.time, retryDelayMs(context.retry, event.data.attempt)),
                  event: { type: 'retryDue', data: { index: event.data.index, attempt: event.data.attempt + 1 } },
                },
              },
            })),
          },
          {
            guard: 'isCurrentChunk',
            target: 'failed',
            actions: [
              assign(({ context, event }) => ({
                lastFailure: failureText(context, event),
                error: event.data.retryable
                  ? `gave up after ${event.data.attempt} attempts: ${failureText(context, event)}`
                  : failureText(context, event),
                finishedAt: event.time,
              })),
              { type: 'discard', params: discardParams },
            ],
          },
        ],
        effectFailed: { target: 'failed', actions: ['recordEffectFailure', { type: 'discard', params: discardParams }] },
        cancelled: { target: 'cancelled', actions: ['recordCancel', { type: 'discard', params: discardParams }] },
      },
    },
    backingOff: {
      on: {
        retryDue: {
          guard: 'isCurrentChunk',
          target: 'fetching',
          actions: [
            assign(({ event }) => ({ attempt: event.data.attempt, deadlines: {} })),
            { type: 'fetchChunk', params: ({ context }) => fetchParams(context, context.cursor, context.attempt) },
          ],
        },
        cancelled: { target: 'cancelled', actions: ['recordCancel', { type: 'discard', params: discardParams }] },
      },
    },
    assembling: {
      on: {
        fileWritten: {
          target: 'completed',
          actions: [
            assign(({ event }) => ({
              outputFile: event.data.path,
              fileBytes: event.data.bytes,
              finishedAt: event.time,
            })),
            { type: 'discard', params: discardParams },
          ],
        },
        effectFailed: { target: 'failed', actions: ['recordEffectFailure', { type: 'discard', params: discardParams }] },
        cancelled: { target: 'cancelled', actions: ['recordCancel', { type: 'discard', params: discardParams }] },
      },
    },
    completed: { type: 'final' },
    failed: { type: 'final' },
    cancelled: { type: 'final' },
  },
});
