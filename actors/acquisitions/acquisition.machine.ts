import { assign, setup } from 'xstate';
import { effect, type Deadline } from '../runtime/actorDefinition.js';
import type { AcquisitionEvent, AcquisitionProgress, AcquisitionRequested, AcquisitionWriter, LostPulseRecord } from './acquisition.events.js';

/** What the `acquire` effect is asked to do: write pulses start..stop from the buffer to the file. */
export interface AcquireParams {
  readonly request: AcquisitionRequested;
  /** Set when re-issued after a restart: the first pulse it had written, if it had started. */
  readonly resumeFirstPulseId: number | null;
  /** A stop recorded before the restart. */
  readonly stop: { readonly stopPulseId: number | null; readonly now: boolean } | null;
}

/** Makes the running writer close the file with what it has; a recovered kill names the draft left behind. */
export interface KillParams {
  readonly reason: string;
  readonly draftPath?: string | null;
}

/** Tells the running writer of this acquisition where to stop. */
export interface SetStopParams {
  readonly stopPulseId: number | null;
  readonly now: boolean;
}

export interface AcquisitionContext {
  readonly id: string;
  readonly request: AcquisitionRequested | null;
  readonly firstPulseId: number | null;
  readonly progress: AcquisitionProgress;
  readonly stop: { readonly stopPulseId: number | null; readonly now: boolean } | null;
  readonly outputFile: string | null;
  readonly draftPath: string | null;
  /**
   * Pulses lost: the stretch a failure names (`{from, to}`), or those recorded while writing
   * (`count` and `ranges` as well, `from`/`to` spanning them).
   */
  readonly lostPulses: LostPulsesSummary | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly error: string | null;
  readonly deadlines: Readonly<Record<string, Deadline>>;
  /** The process that opened the file last (its node and stream), when recorded. */
  readonly writer: AcquisitionWriter | null;
}

export interface LostPulsesSummary {
  readonly from: number;
  readonly to: number;
  readonly count?: number;
  readonly ranges?: readonly { readonly from: number; readonly to: number }[];
}

const lostSummaryOf = (lost: LostPulseRecord): LostPulsesSummary => ({
  from: lost.ranges[0]!.from,
  to: lost.ranges[lost.ranges.length - 1]!.to,
  count: lost.count,
  ranges: lost.ranges,
});

/** The loss an event reports, else what the context had. */
const lostAfter = (context: AcquisitionContext, data: AcquisitionProgress): LostPulsesSummary | null =>
  data.lostPulses === undefined ? context.lostPulses : lostSummaryOf(data.lostPulses);

const noProgress: AcquisitionProgress = {
  lastPulseId: null,
  pulsesWritten: 0,
  missingPulses: 0,
  bytesWritten: 0,
  ratePerSecond: 0,
  lagPulses: 0,
};

// The counters only: a loss is kept in `lostPulses`.
const progressOf = (data: AcquisitionProgress): AcquisitionProgress => ({
  lastPulseId: data.lastPulseId,
  pulsesWritten: data.pulsesWritten,
  missingPulses: data.missingPulses,
  bytesWritten: data.bytesWritten,
  ratePerSecond: data.ratePerSecond,
  lagPulses: data.lagPulses,
});

const stopParams = ({ event }: { event: AcquisitionEvent }): SetStopParams =>
  event.type === 'stopRequested' ? { stopPulseId: event.data.stopPulseId, now: event.data.now } : { stopPulseId: null, now: true };

const killParams = ({ event }: { event: AcquisitionEvent }): KillParams => ({
  reason: event.type === 'killRequested' ? event.data.reason : '',
});

/** The effects this machine requests, with their params; `adapters/jobs/acquisitions/acquisitionEffects.ts` implements them. */
export const acquisitionEffectActions = {
  acquire: effect<AcquireParams>(),
  setStop: effect<SetStopParams>(),
  kill: effect<KillParams>(),
};

/**
 * A writer acquisition: pulses start..stop (inclusive) of the bsread stream, taken from the ring
 * buffer by the long-running `acquire` effect and written to one HDF5 file. The effect reports
 * `started` and `progress` while it runs and ends with `finished`, `killed` or
 * `acquisitionFailed`; a stop or kill command reaches it through `setStop` / `kill`.
 *
 * waiting (for the start pulse) -> writing -> completed | killed | failed
 */
export const acquisitionMachine = setup({
  types: {
    context: {} as AcquisitionContext,
    events: {} as AcquisitionEvent,
    input: {} as { id: string },
  },
  actions: {
    // Implemented by the adapters; the machine only names them.
    ...acquisitionEffectActions,
    recordProgress: assign(({ context, event }) =>
      event.type === 'progress' ? { progress: progressOf(event.data), lostPulses: lostAfter(context, event.data) } : {},
    ),
    // The writer's last word: finished (complete file) or killed (closed with what it had).
    recordEnd: assign(({ context, event }) =>
      event.type === 'finished' || event.type === 'killed'
        ? {
            progress: progressOf(event.data),
            lostPulses: lostAfter(context, event.data),
            outputFile: event.data.path,
            draftPath: null,
            finishedAt: event.time,
          }
        : {},
    ),
    // The first `started`, or that of a process that took the acquisition over: the same first
    // pulse, a draft rewritten by a new writer.
    recordStart: assign(({ event }) =>
      event.type === 'started'
        ? { firstPulseId: event.data.firstPulseId, draftPath: event.data.draftPath ?? null, writer: event.data.writer ?? null }
        : {},
    ),
    recordStop: assign(({ event }) =>
      event.type === 'stopRequested' ? { stop: { stopPulseId: event.data.stopPulseId, now: event.data.now } } : {},
    ),
    recordFailure: assign(({ event }) =>
      event.type === 'acquisitionFailed'
        ? {
            error: `${event.data.reason}: ${event.data.message}`,
            draftPath: event.data.draftPath,
            lostPulses: event.data.lostPulses,
            finishedAt: event.time,
          }
        : {},
    ),
    recordEffectFailure: assign(({ event }) =>
      event.type === 'effectFailed' ? { error: `${event.data.effect}: ${event.data.message}`, finishedAt: event.time } : {},
    ),
  },
  guards: {
    stopNotBeforeStart: ({ context, event }) => {
      if (event.type !== 'stopRequested' || event.data.stopPulseId === null) return true;
      const first = context.firstPulseId ?? context.request?.startPulseId ?? null;
      return first === null || event.data.stopPulseId >= first;
    },
  },
}).createMachine({
  id: 'acquisition',
  context: ({ input }) => ({
    id: input.id,
    request: null,
    firstPulseId: null,
    progress: noProgress,
    stop: null,
    outputFile: null,
    draftPath: null,
    lostPulses: null,
    startedAt: null,
    finishedAt: null,
    error: null,
    deadlines: {},
    writer: null,
  }),
  initial: 'idle',
  states: {
    idle: {
      on: {
        requested: {
          target: 'waiting',
          actions: [
            assign(({ event }) => ({
              request: event.data,
              outputFile: event.data.outputFile,
              startedAt: event.time,
              stop:
                event.data.stopPulseId === null ? null : { stopPulseId: event.data.stopPulseId, now: false },
            })),
            {
              type: 'acquire',
              params: ({ event }) => ({
                request: event.type === 'requested' ? event.data : (null as never),
                resumeFirstPulseId: null,
                stop: null,
              }),
            },
          ],
        },
      },
    },
    waiting: {
      on: {
        started: { target: 'writing', actions: 'recordStart' },
        stopRequested: { guard: 'stopNotBeforeStart', actions: ['recordStop', { type: 'setStop', params: stopParams }] },
        killRequested: { target: 'killing', actions: { type: 'kill', params: killParams } },
        acquisitionFailed: { target: 'failed', actions: 'recordFailure' },
        effectFailed: { target: 'failed', actions: 'recordEffectFailure' },
      },
    },
    writing: {
      on: {
        started: { actions: 'recordStart' },
        progress: { actions: 'recordProgress' },
        stopRequested: { guard: 'stopNotBeforeStart', actions: ['recordStop', { type: 'setStop', params: stopParams }] },
        killRequested: { target: 'killing', actions: { type: 'kill', params: killParams } },
        finished: {
          target: 'completed',
          actions: 'recordEnd',
        },
        acquisitionFailed: { target: 'failed', actions: 'recordFailure' },
        effectFailed: { target: 'failed', actions: 'recordEffectFailure' },
      },
    },
    killing: {
      on: {
        progress: { actions: 'recordProgress' },
        killed: {
          target: 'killed',
          actions: 'recordEnd',
        },
        // A writer that finished before the kill reached it: the file is complete.
        finished: {
          target: 'completed',
          actions: 'recordEnd',
        },
        acquisitionFailed: { target: 'failed', actions: 'recordFailure' },
        effectFailed: { target: 'failed', actions: 'recordEffectFailure' },
      },
    },
    completed: { type: 'final' },
    killed: { type: 'final' },
    failed: { type: 'final' },
  },
});
