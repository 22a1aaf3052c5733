/**
 * Turns a `daqflow.acquisitions.start` body (docs/api.md) into the `requested` event's data: the
 * output file made absolute and checked inside the data root, "start now" resolved to the next
 * pulse of the stream, and a start pulse the ring buffer can no longer serve refused here, with
 * the pulses it still holds, before any actor exists.
 */
import { stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { nodeNameSchema, onLossValues, type AcquisitionRequested } from '../../../actors/acquisitions/acquisition.events.js';
import { DaqflowError, ValidationError } from '../../../events/errors.js';
import { checkDirInsideRoot, checkDirWritable, checkPathText, errnoOf, onClientPath, realpathOfExisting } from '../../files/dataRootPaths.js';
import { validateBody } from '../../natsApi/requestBody.js';
import { isPulseGoneError } from '../../bsread/ringBuffer.js';
import type { BsreadSource } from '../../bsread/bsreadSource.js';

const pulseId = z.number().int().min(0);

export const acquisitionStartRequestSchema = z
  .strictObject({
    outputFile: z.string().min(1),
    startPulseId: pulseId.optional(),
    startNow: z.boolean().optional(),
    stopPulseId: pulseId.optional(),
    channels: z.array(z.string().min(1)).min(1).optional(),
    /** `/general/{created,instrument,process,user}`; any other key is kept out of the file. */
    metadata: z
      .strictObject({ created: z.string().optional(), instrument: z.string().optional(), process: z.string().optional(), user: z.string().optional() })
      .optional(),
    /** What to do when the ring buffer overtakes the writer (docs/acquisitions.md, "Lost pulses"); default `record`. */
    onLoss: z.enum(onLossValues).optional(),
    /**
     * The node whose process must write it (its ring buffer, its stream): recorded here and left
     * for a process there when this one is elsewhere (docs/multi-host.md). Default: the process
     * that takes the request, or, when it lacks the acquisitions role, any process that has it.
     */
    node: nodeNameSchema.optional(),
  })
  .refine((r) => !(r.startPulseId !== undefined && r.startNow === true), {
    message: 'give startPulseId or startNow, not both',
    path: ['startPulseId'],
  })
  .refine((r) => r.startPulseId === undefined || r.stopPulseId === undefined || r.stopPulseId >= r.startPulseId, {
    message: 'stopPulseId must not be before startPulseId (both are inclusive)',
    path: ['stopPulseId'],
  });

export type AcquisitionStartRequest = z.infer<typeof acquisitionStartRequestSchema>;

export interface PrepareAcquisitionStartOptions {
  readonly source: BsreadSource | undefined;
  readonly dataRoot: string;
}

const refuse = (field: string, message: string): never => {
  throw new ValidationError(`${field}: ${message}`, [{ path: [field], message }]);
};

export const prepareAcquisitionStart = async (
  body: Record<string, unknown>,
  options: PrepareAcquisitionStartOptions,
): Promise<AcquisitionRequested> => {
  const request = validateBody(acquisitionStartRequestSchema, body, 'acquisition start');
  const { source } = options;
  if (source === undefined) {
    throw new DaqflowError('WRONG_STATE', 'no bsread stream is configured: set DAQFLOW_BSREAD_STREAM (and DAQFLOW_BSREAD_MODE) and restart', {
      kind: 'NO_STREAM',
    });
  }

  const rootReal = await realpathOfExisting(resolve(options.dataRoot));
  checkPathText(request.outputFile, 'outputFile');
  const wanted = isAbsolute(request.outputFile) ? resolve(request.outputFile) : resolve(rootReal, request.outputFile);
  const name = basename(wanted);
  if (/[/\\]$/.test(request.outputFile) || name === '' || name === '.' || name === '..') refuse('outputFile', 'must name a file');
  const outDir = await checkDirInsideRoot(rootReal, dirname(wanted), 'outputFile');
  await checkDirWritable(outDir, dirname(wanted), 'outputFile');
  const outputFile = join(outDir, name);
  const exists = await onClientPath(request.outputFile, 'outputFile', () =>
    stat(outputFile).then(
      () => true,
      (e: unknown) => (errnoOf(e) === 'ENOENT' ? false : Promise.reject(e)),
    ),
  );
  if (exists) refuse('outputFile', `${outputFile} already exists; daqflow never replaces a file`);

  const counters = source.buffer.counters();
  let startPulseId = request.startPulseId ?? null;
  if (startPulseId === null && counters.newestPulseId !== null) startPulseId = counters.newestPulseId + 1;
  if (request.startPulseId !== undefined) {
    // The buffer's own rule, asked before anything is recorded.
    try {
      source.buffer.checkStart(request.startPulseId);
    } catch (e) {
      if (!isPulseGoneError(e)) throw e;
      const oldest = counters.oldestPulseId;
      throw new DaqflowError(
        'WRONG_STATE',
        `startPulseId ${request.startPulseId} has already left the ring buffer (it holds pulses ${oldest ?? 'none'}..${counters.newestPulseId ?? 'none'}); ` +
          'start at a held or later pulse, or enlarge DAQFLOW_BUFFER_LENGTH',
        { kind: 'PULSE_GONE', startPulseId: request.startPulseId, oldestPulseId: oldest, newestPulseId: counters.newestPulseId },
        { cause: e },
      );
    }
  }
  if (request.stopPulseId !== undefined && startPulseId !== null && request.stopPulseId < startPulseId) {
    refuse('stopPulseId', `${request.stopPulseId} is before the start pulse ${startPulseId} (the stream is already past it)`);
  }
  return {
    outputFile,
    startPulseId,
    stopPulseId: request.stopPulseId ?? null,
    channels: request.channels ?? null,
    general: {
      ...(request.metadata?.created === undefined ? {} : { created: request.metadata.created }),
      instrument: request.metadata?.instrument ?? 'not given',
      process: request.metadata?.process ?? 'daqflow',
      user: request.metadata?.user ?? 'not given',
    },
    ...(request.onLoss === undefined ? {} : { onLoss: request.onLoss }),
    ...(request.node === undefined ? {} : { node: request.node }),
  };
};
