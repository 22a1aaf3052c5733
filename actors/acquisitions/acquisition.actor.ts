import { z } from 'zod';
import { command, type ActorDefinition, type EffectRequest } from '../runtime/actorDefinition.js';
import { acquisitionEventSchemas, type AcquisitionWriter } from './acquisition.events.js';
import { acquisitionMachine, acquisitionEffectActions, type AcquireParams, type AcquisitionContext, type KillParams, type LostPulsesSummary } from './acquisition.machine.js';

const pulseId = z.number().int().min(0);

/** What `acquisitions.get` answers besides the core fields (docs/api.md), as clients read it. */
export type AcquisitionSummary = {
  readonly outputFile: string | null;
  readonly startPulseId: number | null;
  readonly stopPulseId: number | null;
  readonly stopNow: boolean;
  readonly firstPulseId: number | null;
  readonly lastPulseId: number | null;
  readonly pulsesWritten: number;
  readonly missingPulses: number;
  readonly bytesWritten: number;
  readonly ratePerSecond: number;
  readonly lagPulses: number;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly draftPath?: string;
  /** Lost pulses: a failure's stretch, or (with `count` and `ranges`) those recorded as missing rows of a file. */
  readonly lostPulses?: LostPulsesSummary;
  /** Present when the request asked to fail on a loss. */
  readonly onLoss?: 'fail';
  /** The node the request named: only a process there may own it while its owner lives. */
  readonly node?: string;
  /** The process that opened the file last, and the stream it reads (docs/multi-host.md). */
  readonly writer?: AcquisitionWriter;
  readonly error?: string;
};

/** The reply of `acquisitions.get|start|stop|kill`: the core fields and the summary. */
export type AcquisitionView = AcquisitionSummary & { readonly id: string; readonly state: string; readonly final: boolean };

/** What `acquisitions.get` answers (docs/api.md): `{outputFile, startPulseId, stopPulseId, firstPulseId, lastPulseId, pulsesWritten, missingPulses, bytesWritten, error?}`. */
const summaryOf = (c: AcquisitionContext): AcquisitionSummary => ({
  outputFile: c.outputFile,
  startPulseId: c.request?.startPulseId ?? null,
  stopPulseId: c.stop?.stopPulseId ?? null,
  stopNow: c.stop?.now ?? false,
  firstPulseId: c.firstPulseId,
  lastPulseId: c.progress.lastPulseId,
  pulsesWritten: c.progress.pulsesWritten,
  missingPulses: c.progress.missingPulses,
  bytesWritten: c.progress.bytesWritten,
  ratePerSecond: c.progress.ratePerSecond,
  lagPulses: c.progress.lagPulses,
  startedAt: c.startedAt,
  finishedAt: c.finishedAt,
  ...(c.draftPath ? { draftPath: c.draftPath } : {}),
  ...(c.lostPulses ? { lostPulses: c.lostPulses } : {}),
  ...(c.request?.onLoss === 'fail' ? { onLoss: 'fail' as const } : {}),
  ...(c.request?.node ? { node: c.request.node } : {}),
  ...(c.writer ? { writer: c.writer } : {}),
  ...(c.error ? { error: c.error } : {}),
});

/**
 * The writer-acquisition actor (effects in adapters/jobs/acquisitions/acquisitionEffects.ts). Its creating command takes the request resolved by the adapters (the output
 * file made absolute and checked inside the data root, `startNow` as a null start pulse).
 */
export const acquisitionActor: ActorDefinition<typeof acquisitionMachine, typeof acquisitionEffectActions> = {
  kind: 'acquisition',
  machine: acquisitionMachine,
  effects: acquisitionEffectActions,
  eventSchemas: acquisitionEventSchemas,
  commands: {
    start: command({
      creates: true,
      schema: acquisitionEventSchemas.requested.schema.strict().refine(
        (r) => r.startPulseId === null || r.stopPulseId === null || r.stopPulseId >= r.startPulseId,
        { message: 'stopPulseId must not be before startPulseId (both are inclusive)', path: ['stopPulseId'] },
      ),
      toEvent: (p) => ({ type: 'requested', data: p }),
    }),
    stop: command({
      schema: z
        .strictObject({ stopPulseId: pulseId.optional(), now: z.boolean().optional() })
        .refine((s) => (s.stopPulseId !== undefined) !== (s.now === true), {
          message: 'give either stopPulseId or now: true',
        }),
      toEvent: (p) => ({ type: 'stopRequested', data: { stopPulseId: p.stopPulseId ?? null, now: p.now === true } }),
    }),
    kill: command({
      schema: z.strictObject({ reason: z.string().max(1_000).default('') }),
      toEvent: (p) => ({ type: 'killRequested', data: { reason: p.reason } }),
    }),
  },
  summary: (snapshot) => summaryOf(snapshot.context),
  recover: (snapshot): EffectRequest[] => {
    const c = snapshot.context;
    if ((snapshot.value === 'waiting' || snapshot.value === 'writing') && c.request) {
      const params: AcquireParams = { request: c.request, resumeFirstPulseId: c.firstPulseId, stop: c.stop };
      return [{ type: 'acquire', params }];
    }
    // The writer died with the process: the kill effect closes what is left of the draft.
    if (snapshot.value === 'killing') {
      const params: KillParams = { reason: 'recovered after a restart', draftPath: c.draftPath };
      return [{ type: 'kill', params }];
    }
    return [];
  },
};
