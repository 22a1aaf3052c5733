import { z } from 'zod';
import { grabModes, retryPolicySchema } from './grabRun.events.js';
import { grabWindowInputSchema } from './grabWindow.js';

/**
 * The body of `daqflow.grabs.start` (docs/api.md), before it is resolved: the API (and a schedule
 * firing a grab) turns it into the `requested` event's data with `prepareGrabStart` (adapters),
 * which needs the clock, the configured time zone, the source and the data root.
 */
export const grabStartRequestSchema = z.strictObject({
  /** `parameters` (default) grabs time series; `events` the firing times of timing events. */
  mode: z.enum(grabModes).default('parameters'),
  /** Parameter names (parameters mode; required there). */
  parameters: z.array(z.string().trim().min(1).max(256)).max(10_000).optional(),
  /** Events mode: highest event code to look at, 0..255 (EventDataGrabber.py's --maxEvt, default 0xFF). */
  maxEvt: z.number().int().min(0).max(255).optional(),
  /** Events mode: channel name of an event code; `{hex}` is its two-digit upper-case hex code. */
  eventChannel: z.string().min(1).max(256).includes('{hex}', { message: 'must contain {hex}' }).optional(),
  /** Events mode: stop after the first event code with any firing in the window (EventDataGrabber.py's -o). */
  firstOnly: z.boolean().default(false),
  /** End of the window: `YYYY-MM-DD hh:mm:ss` in the facility's zone, ISO 8601, or `now` (default: last midnight). */
  stopAt: z.string().min(1).max(64).optional(),
  /** Start of the window instead of a length. */
  startAt: z.string().min(1).max(64).optional(),
  window: grabWindowInputSchema.optional(),
  /** Folder of the finished file, inside DAQFLOW_DATA_ROOT (relative: from it). Default: the data root. */
  outDir: z.string().min(1).max(4_096).optional(),
  /** Folder of the draft while it is written, inside DAQFLOW_DATA_ROOT. Default: `<data root>/drafts`. */
  draftDir: z.string().min(1).max(4_096).optional(),
  /** Length of one chunk of one parameter, in seconds (default 21,600 = 6 h): the unit of progress and of resumption. */
  chunkSeconds: z.number().int().min(1).max(86_400 * 31).optional(),
  retry: retryPolicySchema.partial().optional(),
});
export type GrabStartRequest = z.input<typeof grabStartRequestSchema>;
export type ParsedGrabStartRequest = z.output<typeof grabStartRequestSchema>;

/**
 * Six hours: each chunk costs about 3 ms beside its data (one event, two work files), which at
 * 1 Hz in 1-hour chunks was 60 % of a grab's time (0.76 M samples/s, against 1.75 M in 6-hour
 * chunks: bench/RESULTS.md). A killed run fetches at most one chunk again; the Archiver Appliance
 * is still asked one hour at a time within it.
 */
export const DEFAULT_CHUNK_SECONDS = 21_600;
export const DEFAULT_EVENT_CHANNEL = 'EVENT:{hex}';
export const DEFAULT_MAX_EVT = 0xff;
export const DEFAULT_RETRY = { maxAttempts: 5, initialDelayMs: 1_000, maxDelayMs: 60_000 } as const;

/** Channel names of event codes 0..maxEvt. */
export const eventChannelsOf = (pattern: string, maxEvt: number): string[] =>
  Array.from({ length: maxEvt + 1 }, (_, code) => pattern.replaceAll('{hex}', code.toString(16).toUpperCase().padStart(2, '0')));
