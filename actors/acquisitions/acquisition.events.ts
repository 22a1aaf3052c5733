import { z } from 'zod';
import type { EventSchema } from '../../events/eventSchemas.js';
import { effectFailedSchema } from '../runtime/effectFailed.js';
import { NODE_NAME_PATTERN, NODE_NAME_RULE } from '../runtime/ownership.js';

const pulseId = z.number().int().min(0);

/** Most ranges a loss record keeps; later ones are merged into the last (the count stays exact). */
export const MAX_LOST_RANGES = 100;

/**
 * Pulses the ring buffer evicted before the acquisition had read them, written to the file as
 * rows with is_data_present = 0 (docs/acquisitions.md, "Lost pulses"): the stretches, inclusive,
 * and how many pulses of the stream they held.
 */
export const lostPulsesSchema = z.object({
  count: z.number().int().min(1),
  ranges: z.array(z.object({ from: pulseId, to: pulseId })).min(1).max(MAX_LOST_RANGES),
});
export type LostPulseRecord = z.infer<typeof lostPulsesSchema>;

/** What a request asks for when the ring buffer overtakes its reader: go on and record the loss, or fail. */
export const onLossValues = ['record', 'fail'] as const;
export type OnLoss = (typeof onLossValues)[number];

/** Counters a running acquisition reports (at a bounded rate, never one event per pulse). */
export const acquisitionProgressSchema = z.object({
  lastPulseId: pulseId.nullable(),
  pulsesWritten: z.number().int().min(0),
  missingPulses: z.number().int().min(0),
  bytesWritten: z.number().int().min(0),
  /** Pulses written per second over the last report interval. */
  ratePerSecond: z.number().min(0),
  /** How far the writer is behind the newest pulse in the buffer. */
  lagPulses: z.number().int().min(0),
  /** Absent while nothing was lost (and in events recorded before losses were recorded). */
  lostPulses: lostPulsesSchema.optional(),
});
export type AcquisitionProgress = z.infer<typeof acquisitionProgressSchema>;

/** A node's name, as `DAQFLOW_NODE` takes it. */
export const nodeNameSchema = z.string().regex(NODE_NAME_PATTERN, `a node name is ${NODE_NAME_RULE}`);

/**
 * A bsread stream as a process receives it (`DAQFLOW_BSREAD_STREAM`, `DAQFLOW_BSREAD_MODE`);
 * `simulated` when it is the process's own simulated stream (no `DAQFLOW_BSREAD_STREAM`), which no
 * other process receives and whose address changes at each start.
 */
export const bsreadStreamSchema = z.object({ address: z.string().min(1), mode: z.enum(['pull', 'sub']), simulated: z.literal(true).optional() });
export type BsreadStreamRef = z.infer<typeof bsreadStreamSchema>;

/**
 * The process that opened the file and the stream it reads: whether another process holds the
 * same pulses is judged from this alone when the writer's process is gone.
 */
export const acquisitionWriterSchema = z.object({ node: nodeNameSchema, process: z.string().min(1).optional(), stream: bsreadStreamSchema });
export type AcquisitionWriter = z.infer<typeof acquisitionWriterSchema>;

export const acquisitionEventSchemas = {
  /**
   * Asked for, resolved: absolute output file inside the data root; null pulse ids mean "now" /
   * "until stopped". `general.created` and `onLoss` are optional so that requests recorded before
   * them still validate; `onLoss` absent means `record`. `node`: the node whose process must own
   * it (its ring buffer), absent for any process with the acquisitions role.
   */
  requested: {
    version: 1,
    schema: z.object({
      outputFile: z.string().min(1),
      startPulseId: pulseId.nullable(),
      stopPulseId: pulseId.nullable(),
      channels: z.array(z.string().min(1)).nullable(),
      general: z.object({ created: z.string().optional(), instrument: z.string(), process: z.string(), user: z.string() }),
      onLoss: z.enum(onLossValues).optional(),
      node: nodeNameSchema.optional(),
    }),
  },
  /**
   * The writer has its first pulse; its draft file is named so that it can be found after a crash.
   * Recorded again by a process that took the acquisition over and rewrites the draft. `writer`
   * is absent in events recorded before it was recorded.
   */
  started: { version: 1, schema: z.object({ firstPulseId: pulseId, draftPath: z.string().optional(), writer: acquisitionWriterSchema.optional() }) },
  progress: { version: 1, schema: acquisitionProgressSchema },
  /** A stop: at a pulse id (inclusive), or at the newest pulse when it arrives (`now`). */
  stopRequested: { version: 1, schema: z.object({ stopPulseId: pulseId.nullable(), now: z.boolean() }) },
  killRequested: { version: 1, schema: z.object({ reason: z.string() }) },
  /** The file is complete at its final path. */
  finished: {
    version: 1,
    schema: acquisitionProgressSchema.extend({ path: z.string(), firstPulseId: pulseId.nullable() }),
  },
  /** Killed: the file was closed with the pulses written so far. */
  killed: {
    version: 1,
    schema: acquisitionProgressSchema.extend({ path: z.string().nullable(), firstPulseId: pulseId.nullable() }),
  },
  /** The acquisition cannot go on: the start pulse left the buffer, pulses were lost in a restart… */
  acquisitionFailed: {
    version: 1,
    schema: z.object({
      reason: z.string(),
      message: z.string(),
      /** The draft kept for inspection, when there is one. */
      draftPath: z.string().nullable(),
      /** Pulses that cannot be written any more, inclusive; null when none were lost. */
      lostPulses: z.object({ from: pulseId, to: pulseId }).nullable(),
    }),
  },
  effectFailed: { version: 1, schema: effectFailedSchema },
} as const satisfies Record<string, EventSchema>;

type DataOf<K extends keyof typeof acquisitionEventSchemas> = z.infer<(typeof acquisitionEventSchemas)[K]['schema']>;

export type AcquisitionRequested = DataOf<'requested'>;

/** Machine events of the acquisition actor: `{ type, data, time }` for each stored event type. */
export type AcquisitionEvent = {
  [K in keyof typeof acquisitionEventSchemas]: { type: K; data: DataOf<K>; time: string };
}[keyof typeof acquisitionEventSchemas];
