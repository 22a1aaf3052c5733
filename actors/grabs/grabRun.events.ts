import { z } from 'zod';
import type { EventSchema } from '../../events/eventSchemas.js';
import { effectFailedSchema } from '../runtime/effectFailed.js';

/** `parameters`: the listed parameters' time series; `events`: the times timing events fired. */
export const grabModes = ['parameters', 'events'] as const;
export type GrabMode = (typeof grabModes)[number];

const isoTime = z.iso.datetime({ offset: true });
const nullableNumber = z.number().nullable();

/** Statistics of one series as stored in events (no mode table: that stays beside the draft). */
export const seriesStatisticsSchema = z.object({
  count: z.number().int().min(0),
  nanCount: z.number().int().min(0),
  min: nullableNumber,
  max: nullableNumber,
  mean: nullableNumber,
  std: nullableNumber,
  mode: nullableNumber,
});

/** One parameter's statistics (see `parameterStatistics.ts` for the rules). */
export const parameterStatisticsSchema = seriesStatisticsSchema.extend({
  firstTime: nullableNumber,
  lastTime: nullableNumber,
  interval: seriesStatisticsSchema,
});

/** How source errors are retried: delay = min(maxDelayMs, initialDelayMs × 2^(attempt − 1)). */
export const retryPolicySchema = z.object({
  maxAttempts: z.number().int().min(1).max(100),
  initialDelayMs: z.number().int().min(0).max(3_600_000),
  maxDelayMs: z.number().int().min(0).max(86_400_000),
});
export type RetryPolicy = z.infer<typeof retryPolicySchema>;

export const grabRunEventSchemas = {
  /**
   * The run was asked for, with everything resolved: concrete window, absolute folders. The
   * chunk plan follows from it (see `grabPlan.ts`): the window cut into `chunkSeconds` slices,
   * chunks taken parameter by parameter, slice by slice.
   */
  requested: {
    version: 1,
    schema: z.object({
      mode: z.enum(grabModes),
      parameters: z.array(z.string().min(1)).min(1),
      start: isoTime,
      stop: isoTime,
      chunkSeconds: z.number().int().min(1),
      /** Absolute folder of the draft and the run's work files (inside the data root). */
      draftDir: z.string().min(1),
      /** Absolute folder the finished file is moved to (inside the data root). */
      outDir: z.string().min(1),
      /** Name of the data-logger source the run reads (for messages; the runtime picks the source). */
      source: z.string(),
      retry: retryPolicySchema,
      /** Events mode: stop after the first event channel that has any firing (EventDataGrabber.py's `-o`). */
      firstOnly: z.boolean(),
      /** The schedule that fired this run, when one did. */
      scheduleId: z.string().nullable(),
    }),
  },
  /** Chunk `index` is in the run's work folder: its samples and its statistics state. */
  chunkWritten: {
    version: 1,
    schema: z.object({
      index: z.number().int().min(0),
      parameter: z.string(),
      from: isoTime,
      to: isoTime,
      samples: z.number().int().min(0),
      /** Bytes of the chunk's work file. */
      bytes: z.number().int().min(0),
      units: z.string().nullable(),
      /** Events mode: the channel does not exist in the source (skipped, as EventDataGrabber.py does). */
      missing: z.boolean(),
      /** The chunk's own statistics (the run's come with `fileWritten`). */
      statistics: parameterStatisticsSchema,
    }),
  },
  /** Fetching chunk `index` failed on attempt `attempt`. */
  chunkFailed: {
    version: 1,
    schema: z.object({
      index: z.number().int().min(0),
      attempt: z.number().int().min(1),
      parameter: z.string(),
      /** The source's reason, e.g. UNAVAILABLE, TIMEOUT, UNKNOWN_PARAMETER. */
      reason: z.string(),
      message: z.string(),
      retryable: z.boolean(),
    }),
  },
  /** The backoff of a failed chunk is over: fetch it again. */
  retryDue: {
    version: 1,
    schema: z.object({ index: z.number().int().min(0), attempt: z.number().int().min(2) }),
  },
  /** The HDF5 file is complete in the out folder; the run's statistics per parameter. */
  fileWritten: {
    version: 1,
    schema: z.object({
      path: z.string(),
      bytes: z.number().int().min(0),
      samples: z.number().int().min(0),
      windowStart: isoTime,
      windowStop: isoTime,
      statistics: z.array(
        parameterStatisticsSchema.extend({ parameter: z.string(), units: z.string().nullable() }),
      ),
    }),
  },
  cancelled: { version: 1, schema: z.object({ reason: z.string() }) },
  /** An effect threw (a bug or the file system, not the source): the run fails. */
  effectFailed: { version: 1, schema: effectFailedSchema },
} as const satisfies Record<string, EventSchema>;

type DataOf<K extends keyof typeof grabRunEventSchemas> = z.infer<(typeof grabRunEventSchemas)[K]['schema']>;

export type GrabRequested = DataOf<'requested'>;
export type ChunkWritten = DataOf<'chunkWritten'>;
export type ChunkFailed = DataOf<'chunkFailed'>;
export type FileWritten = DataOf<'fileWritten'>;
export type StoredParameterStatistics = z.infer<typeof parameterStatisticsSchema>;

/** Machine events of the grab-run actor: `{ type, data, time }` for each stored event type. */
export type GrabRunEvent = {
  [K in keyof typeof grabRunEventSchemas]: { type: K; data: DataOf<K>; time: string };
}[keyof typeof grabRunEventSchemas];
