/**
 * Turns a `daqflow.grabs.start` body into the `requested` event's data: everything resolved, so
 * the stored event is self-contained (a replay needs neither the clock, nor the zone, nor the file
 * system): a concrete window, absolute folders checked against the data root, defaults filled in,
 * and in parameters mode every parameter known to the source.
 *
 * A refused request (`ValidationError`, a 400) leaves nothing on disk: folders are judged by where
 * they would be, and created later by the run itself.
 */
import { resolve } from 'node:path';
import type { z } from 'zod';
import {
  DEFAULT_CHUNK_SECONDS,
  DEFAULT_EVENT_CHANNEL,
  DEFAULT_MAX_EVT,
  DEFAULT_RETRY,
  eventChannelsOf,
  grabStartRequestSchema,
} from '../../../actors/grabs/grabRequest.js';
import type { GrabRequested } from '../../../actors/grabs/grabRun.events.js';
import { resolveGrabWindow } from '../../../actors/grabs/grabWindow.js';
import { ValidationError } from '../../../events/errors.js';
import type { DataLoggerSource } from '../../dataLogger/dataLoggerSource.js';
import { checkDirInsideRoot, checkDirWritable, realpathOfExisting } from '../../files/dataRootPaths.js';

export interface PrepareGrabStartOptions {
  readonly source: DataLoggerSource;
  /** `DAQFLOW_DATA_ROOT`. */
  readonly dataRoot: string;
  /** The facility's time zone, for times without an offset and the default "last midnight". */
  readonly timeZone: string;
  /** "Now" for the API; a schedule's fire time for a scheduled grab. */
  readonly reference: Date;
  readonly scheduleId?: string | null;
}

/** Parameters described at once: enough to hide the latency of a remote data logger, few enough not to flood it. */
const DESCRIBE_CONCURRENCY = 8;

const issuesOf = (error: z.ZodError): Array<{ path: string[]; message: string }> =>
  error.issues.map((i) => ({ path: i.path.map(String), message: i.message }));

const refuse = (field: string, message: string): never => {
  throw new ValidationError(`${field}: ${message}`, [{ path: [field], message }]);
};

/** Order kept, first occurrence wins. */
const unique = (names: readonly string[]): string[] => [...new Set(names)];

/**
 * The parameters the source does not know, in the order given. Stops asking at the first failure
 * (an unreachable source), which is rethrown as it is.
 */
const unknownParameters = async (source: DataLoggerSource, parameters: readonly string[]): Promise<string[]> => {
  const exists = new Array<boolean>(parameters.length);
  const controller = new AbortController();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < parameters.length && !controller.signal.aborted) {
      const i = next++;
      try {
        exists[i] = (await source.describe(parameters[i]!, controller.signal)).exists;
      } catch (e) {
        controller.abort(e);
        throw e;
      }
    }
  };
  const workers = Array.from({ length: Math.min(DESCRIBE_CONCURRENCY, parameters.length) }, worker);
  const settled = await Promise.allSettled(workers);
  // The first failure, not a later one caused by the abort.
  if (controller.signal.aborted) throw controller.signal.reason;
  for (const s of settled) if (s.status === 'rejected') throw s.reason;
  return parameters.filter((_, i) => exists[i] === false);
};

/** Most chunks one grab run may plan (each is an event and a work file). */
export const MAX_CHUNKS = 200_000;

export const prepareGrabStart = async (body: unknown, options: PrepareGrabStartOptions): Promise<GrabRequested> => {
  const parsed = grabStartRequestSchema.safeParse(body);
  if (!parsed.success) {
    const issues = issuesOf(parsed.error);
    throw new ValidationError(
      `invalid grab request: ${issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`,
      issues,
    );
  }
  const request = parsed.data;
  const { start, stop } = resolveGrabWindow(request, { reference: options.reference, timeZone: options.timeZone });

  // Fields of the other mode would be silently ignored: refuse them, the client meant something.
  let parameters: string[];
  if (request.mode === 'events') {
    if (request.parameters !== undefined) refuse('parameters', 'events mode takes eventChannel and maxEvt, not parameters');
    parameters = eventChannelsOf(request.eventChannel ?? DEFAULT_EVENT_CHANNEL, request.maxEvt ?? DEFAULT_MAX_EVT);
  } else {
    if (request.maxEvt !== undefined) refuse('maxEvt', 'only for events mode');
    if (request.eventChannel !== undefined) refuse('eventChannel', 'only for events mode');
    if (request.firstOnly) refuse('firstOnly', 'only for events mode');
    if (request.parameters === undefined || request.parameters.length === 0) {
      refuse('parameters', 'parameters mode needs at least one parameter');
    }
    parameters = unique(request.parameters ?? []);
  }

  // Every chunk is an event and a work file: a plan of millions is a typo, not a grab.
  const chunkSeconds = request.chunkSeconds ?? DEFAULT_CHUNK_SECONDS;
  const chunks = Math.ceil((stop.getTime() - start.getTime()) / (chunkSeconds * 1000)) * parameters.length;
  if (chunks > MAX_CHUNKS) {
    refuse(
      'chunkSeconds',
      `${parameters.length} parameters over this window in ${chunkSeconds} s chunks make ${chunks} chunks; at most ${MAX_CHUNKS}: raise chunkSeconds, shorten the window or split the parameters`,
    );
  }

  const rootAbsolute = resolve(options.dataRoot);
  const rootReal = await realpathOfExisting(rootAbsolute);
  const outDir = await checkDirInsideRoot(rootReal, request.outDir ?? rootReal, 'outDir');
  const draftDir = await checkDirInsideRoot(rootReal, request.draftDir ?? 'drafts', 'draftDir');
  await checkDirWritable(outDir, request.outDir ?? rootReal, 'outDir');
  await checkDirWritable(draftDir, request.draftDir ?? 'drafts', 'draftDir');

  if (request.mode === 'parameters') {
    const unknown = await unknownParameters(options.source, parameters);
    if (unknown.length > 0) {
      throw new ValidationError(
        `unknown parameter(s) in ${options.source.name}: ${unknown.join(', ')}`,
        // Issue paths index the list as the client sent it (duplicates included).
        unknown.map((p) => ({ path: ['parameters', String(request.parameters?.indexOf(p) ?? -1)], message: `unknown parameter ${p}`, parameter: p })),
      );
    }
  }

  return {
    mode: request.mode,
    parameters,
    start: start.toISOString(),
    stop: stop.toISOString(),
    chunkSeconds,
    draftDir,
    outDir,
    source: options.source.name,
    retry: { ...DEFAULT_RETRY, ...request.retry },
    firstOnly: request.firstOnly,
    scheduleId: options.scheduleId ?? null,
  };
};
