/**
 * The grab run's effects (parameters in `actors/grabs/grabRun.effects.ts`):
 *
 * - `fetchChunk` streams one chunk (a parameter over one slice of the window) from the data logger
 *   into the run's work folder and reports `chunkWritten`, or `chunkFailed` for a source error;
 * - `assemble` builds the HDF5 file from the chunks' work files, publishes it and reports
 *   `fileWritten` with the run's statistics;
 * - `discard` removes the work folder.
 *
 * Every one is idempotent: a restarted runtime re-issues the effect its actor waits on, and a
 * re-run rewrites the same chunk or rebuilds the same file. Memory is bounded by one batch of the
 * source (fetchChunk) or one piece of a work file (assemble), plus one parameter's mode table.
 */
import { lstat, mkdir, realpath, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { AssembleParams, DiscardParams, FetchChunkParams } from '../../../actors/grabs/grabRun.effects.js';
import type { ChunkFailed, ChunkWritten, FileWritten } from '../../../actors/grabs/grabRun.events.js';
import { StatisticsAccumulator } from '../../../actors/grabs/parameterStatistics.js';
import { silentLogger, type EffectContext, type EffectHandlersFor, type Logger } from '../../../actors/runtime/index.js';
import { DaqflowError, messageOf, ValidationError } from '../../../events/errors.js';
import type { DataLoggerSource } from '../../dataLogger/dataLoggerSource.js';
import { isDataLoggerError } from '../../dataLogger/errors.js';
import { checkDirInsideRoot, errnoOf, realpathOfExisting, resolveDirInsideRoot } from '../../files/dataRootPaths.js';
import { GRAB_EVENTS_FILE_PREFIX, GRAB_FILE_PREFIX, grabAttrs } from '../../hdf5/grabFileLayout.js';
import { openGrabFile, type GrabFileWriter } from '../../hdf5/grabFileWriter.js';
import { chunkSamplesName, openChunkWriter, readChunkSamples, readChunkSidecar, workDirName, workDirOf, type ChunkSidecar } from './chunkWorkFiles.js';
import type { grabRunEffectActions } from '../../../actors/grabs/grabRun.machine.js';

/** The handlers the machine's effect actions need (a missing or misspelled one does not compile). */
export type GrabEffects = EffectHandlersFor<typeof grabRunEffectActions>;

export interface GrabEffectsOptions {
  readonly source: DataLoggerSource;
  /** `DAQFLOW_DATA_ROOT`: every folder the effects write must resolve inside it. */
  readonly dataRoot: string;
  readonly logger?: Logger;
  /** Samples per piece when `assemble` reads a chunk's work file (default 65,536: 1 MiB). */
  readonly assemblePieceSamples?: number;
}

type Outcome<T extends string, D> = { type: T; data: D };

const DEFAULT_PIECE_SAMPLES = 65_536;

const checkIndex = (what: string, value: number, min: number): void => {
  if (!Number.isInteger(value) || value < min) {
    throw new ValidationError(`${what} must be an integer of at least ${min}, got ${String(value)}`);
  }
};

const parseTime = (what: string, iso: string): Date => {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) throw new ValidationError(`${what} ${JSON.stringify(iso)} is not a time`);
  return d;
};


export const createGrabEffects = (options: GrabEffectsOptions): GrabEffects => {
  const { source } = options;
  const logger = options.logger ?? silentLogger;
  const pieceSamples = options.assemblePieceSamples ?? DEFAULT_PIECE_SAMPLES;
  checkIndex('assemblePieceSamples', pieceSamples, 1);
  const rootAbsolute = resolve(options.dataRoot);

  /** The data root's real path, creating it (effects that write need it to exist anyway). */
  const rootReal = async (): Promise<string> => {
    await mkdir(rootAbsolute, { recursive: true });
    return realpath(rootAbsolute);
  };

  /** The run's work folder, checked to lie inside the data root, and created. */
  const workDir = async (draftDir: string, context: EffectContext): Promise<string> =>
    resolveDirInsideRoot(await rootReal(), workDirOf(draftDir, context.id), 'draftDir');

  const fetchChunk = async (
    params: FetchChunkParams,
    context: EffectContext,
  ): Promise<Outcome<'chunkWritten', ChunkWritten> | Outcome<'chunkFailed', ChunkFailed> | undefined> => {
    const { index, attempt, parameter, mode } = params;
    checkIndex('index', index, 0);
    checkIndex('attempt', attempt, 1);
    const from = parseTime('from', params.from);
    const to = parseTime('to', params.to);
    const where = { parameter, from: params.from, to: params.to };
    const dir = await workDir(params.draftDir, context);
    // A cancel that came while the folder was made: leave nothing behind for the discard to miss.
    if (context.signal.aborted) return undefined;
    const chunk = await openChunkWriter(dir, index);
    // The chunk's own statistics for its event: the moments only. The exact mode needs every
    // value of the window; it is computed once, when `assemble` streams the chunks into the file.
    const statistics = new StatisticsAccumulator({ mode: 'none' });
    let units: string | undefined;
    let committed = false;
    try {
      try {
        for await (const batch of source.fetchSamples(parameter, from, to, context.signal)) {
          if (batch.units !== undefined) units = batch.units;
          const { times, values } = batch;
          for (let i = 0; i < times.length; i++) statistics.push(values[i]!, times[i]!);
          await chunk.append(times, values);
        }
      } catch (e) {
        // The runtime is stopping: no outcome; the chunk is fetched again after the restart.
        if (context.signal.aborted) return undefined;
        if (!isDataLoggerError(e)) throw e;
        if (mode === 'events' && e.reason === 'UNKNOWN_PARAMETER') {
          // An event code without a channel: skipped, as EventDataGrabber.py does, recorded as an empty chunk.
          await chunk.discard();
          const none = new StatisticsAccumulator({ mode: 'none' });
          const empty = await openChunkWriter(dir, index);
          let sidecar: ChunkSidecar;
          try {
            sidecar = await empty.commit({ ...where, units: null, missing: true, statistics: none.result() });
          } catch (commitError) {
            await empty.discard();
            throw commitError;
          }
          committed = true;
          return chunkWritten(params, sidecar, none);
        }
        logger.warn({ err: e, id: context.id, index, attempt, parameter }, 'chunk fetch failed');
        return {
          type: 'chunkFailed',
          data: { index, attempt, parameter, reason: e.reason, message: e.message, retryable: e.retryable },
        };
      }
      if (context.signal.aborted) return undefined;
      const sidecar = await chunk.commit({
        ...where,
        units: units ?? null,
        missing: false,
        statistics: statistics.result(),
      });
      committed = true;
      logger.debug({ id: context.id, index, parameter, samples: sidecar.samples }, 'chunk written');
      return chunkWritten(params, sidecar, statistics);
    } catch (e) {
      throw new DaqflowError('INTERNAL', `fetching chunk ${index} (${parameter}) failed: ${messageOf(e)}`, { index, parameter }, { cause: e });
    } finally {
      if (!committed) await chunk.discard();
    }
  };

  const chunkWritten = (
    params: FetchChunkParams,
    sidecar: ChunkSidecar,
    statistics: StatisticsAccumulator,
  ): Outcome<'chunkWritten', ChunkWritten> => ({
    type: 'chunkWritten',
    data: {
      index: params.index,
      parameter: params.parameter,
      from: params.from,
      to: params.to,
      samples: sidecar.samples,
      bytes: sidecar.bytes,
      units: sidecar.units,
      missing: sidecar.missing,
      statistics: statistics.result(),
    },
  });

  const assemble = async (params: AssembleParams, context: EffectContext): Promise<Outcome<'fileWritten', FileWritten> | undefined> => {
    const { parameters, slices, chunks, mode } = params;
    checkIndex('slices', slices, 1);
    checkIndex('chunks', chunks, 0);
    const planned = parameters.length * slices;
    if (chunks > planned || (mode === 'parameters' && chunks !== planned)) {
      throw new ValidationError(
        `assemble was asked for ${chunks} chunks of a ${mode} run planned with ${planned} (${parameters.length} × ${slices} slices)`,
      );
    }
    const dir = await workDir(params.draftDir, context);
    const writer = await openGrabFile({
      dataRoot: rootAbsolute,
      draftDir: dir,
      outDir: params.outDir,
      window: { start: parseTime('start', params.start), stop: parseTime('stop', params.stop) },
      created: parseTime('created', params.created),
      prefix: mode === 'events' ? GRAB_EVENTS_FILE_PREFIX : GRAB_FILE_PREFIX,
      attributes: { [grabAttrs.runId]: context.id },
    });
    try {
      const statistics: FileWritten['statistics'] = [];
      for (let p = 0; p * slices < chunks; p++) {
        const parameter = parameters[p]!;
        const written = await assembleParameter(writer, dir, parameter, p * slices, Math.min(chunks, (p + 1) * slices), mode, context);
        if (written === undefined) {
          await writer.abort();
          return undefined;
        }
        if (written !== 'left out') statistics.push(written);
      }
      let result;
      try {
        result = await writer.finish(context.signal);
      } catch (e) {
        // Cancelled (or stopping) while finishing: nothing was published, the draft is discarded.
        if (context.signal.aborted) return undefined;
        throw e;
      }
      logger.info({ id: context.id, path: result.path, bytes: result.bytes, samples: result.samples }, 'grab file written');
      return {
        type: 'fileWritten',
        data: {
          path: result.path,
          bytes: result.bytes,
          samples: result.samples,
          windowStart: params.start,
          windowStop: params.stop,
          statistics,
        },
      };
    } catch (e) {
      await writer.abort().catch(() => undefined);
      throw e;
    }
  };

  /**
   * Appends one parameter's chunks [first, end) to the file. Its statistics; `left out` for an events
   * channel without firings; undefined when the runtime is stopping.
   */
  const assembleParameter = async (
    writer: GrabFileWriter,
    dir: string,
    parameter: string,
    first: number,
    end: number,
    mode: AssembleParams['mode'],
    context: EffectContext,
  ): Promise<FileWritten['statistics'][number] | 'left out' | undefined> => {
    // First the sidecars: units and sample counts, and each chunk is checked to be complete.
    const sidecars: ChunkSidecar[] = [];
    let units: string | null = null;
    let samples = 0;
    for (let index = first; index < end; index++) {
      const sidecar = await readChunkSidecar(dir, index, parameter);
      if (sidecar.units !== null) {
        if (units !== null && sidecar.units !== units) {
          // The file has one units attribute per parameter: the first units given stand.
          logger.warn({ id: context.id, parameter, index, units: sidecar.units, kept: units }, 'units changed within the window');
        }
        units ??= sidecar.units;
      }
      samples += sidecar.samples;
      sidecars.push(sidecar);
    }
    if (mode === 'events' && samples === 0) return 'left out';
    const unitsArg = units ?? undefined;
    // The run's statistics, in the one pass that writes the file: the exact mode needs every value
    // of the parameter, kept in a sorted buffer (one parameter at a time) rather than a table.
    const statistics = new StatisticsAccumulator({ mode: 'sorted' });
    // The parameter's group, even when it has no samples (parameters mode).
    writer.appendSamples(parameter, new Float64Array(0), new Float64Array(0), unitsArg);
    for (const sidecar of sidecars) {
      for await (const piece of readChunkSamples(dir, sidecar, pieceSamples)) {
        if (context.signal.aborted) return undefined;
        const { times, values } = piece;
        try {
          for (let i = 0; i < times.length; i++) statistics.push(values[i]!, times[i]!);
        } catch (e) {
          // Times out of order can only come from a damaged work file (the checksum is checked at its end).
          throw new DaqflowError('INTERNAL', `chunk work file ${join(dir, chunkSamplesName(sidecar.index))} is corrupt: ${messageOf(e)}`, {
            index: sidecar.index,
            parameter,
          }, { cause: e });
        }
        writer.appendSamples(parameter, times, values, unitsArg);
      }
    }
    return { parameter, units, ...statistics.result() };
  };

  const discard = async (params: DiscardParams, context: EffectContext): Promise<void> => {
    const name = workDirName(context.id);
    const root = await realpathOfExisting(rootAbsolute);
    // Only ever the run's own work folder, in a draft folder inside the data root; nothing is created.
    const draftDir = await checkDirInsideRoot(root, params.draftDir, 'draftDir');
    const target = workDirOf(draftDir, context.id);
    let isDir: boolean;
    try {
      const info = await lstat(target);
      isDir = info.isDirectory();
    } catch (e) {
      if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return;
      throw e;
    }
    if (!isDir) {
      throw new DaqflowError('INTERNAL', `refusing to discard ${target}: it is not the run's work folder (${name}) but a file or a link`, {
        path: target,
      });
    }
    await rm(target, { recursive: true, force: true });
    logger.debug({ id: context.id, path: target }, 'grab work folder discarded');
  };

  return {
    fetchChunk,
    assemble,
    discard,
  };
};
