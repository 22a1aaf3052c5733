/**
 * Writes one grab run's HDF5 file (layout in `grabFileLayout.ts`), streaming: each parameter's
 * datasets are created on its first append, chunked and unlimited, then grown and written in place
 * for every later append. Nothing of a parameter's series is kept in memory beyond the one append
 * being written; the writer remembers only each parameter's row count and units.
 *
 * The file is written as a draft (`.<name>.draft` in `draftDir`) and appears under its final name
 * in `outDir` only when `finish()` has closed, synced and moved it there, so a reader never sees a
 * partial `MLParamData_*.h5`. `abort()` keeps the draft and names it, so a failed run can say where
 * its partial data is; a later try of the same run truncates it.
 *
 * h5wasm's Node build uses Emscripten's NODERAWFS: the HDF5 library reads and writes the real file
 * through Node's `fs`, there is no in-memory copy of the file to sync. What lives in the wasm heap
 * is HDF5's metadata cache and the one append being written (h5wasm opens and closes a dataset per
 * call, so no per-dataset chunk cache stays allocated). The heap grows to its high-water mark and
 * stays there, so peak memory is bounded by the largest append, not by the file.
 *
 * h5wasm is synchronous: an append blocks the event loop while it writes (about a millisecond for
 * 3,600 samples). Calls on one writer must not interleave with its `finish()`/`abort()`.
 */
import { mkdir, realpath, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Dataset, File as H5File } from 'h5wasm/node';
import { forgetH5WriteFailure, throwIfWriteFailed, watchH5Writes } from './h5WriteFailures.js';
import { DaqflowError, ValidationError } from '../../events/errors.js';
import { errnoOf, resolveDirInsideRoot } from '../files/dataRootPaths.js';
import { fsyncFile, publishDraft } from '../files/publishDraft.js';
import {
  DEFAULT_CHUNK_SAMPLES,
  GRAB_LAYOUT_VERSION,
  draftFileName,
  escapeParameterName,
  grabAttrs,
  grabDatasets,
  grabFileName,
  type GrabFilePrefix,
  type GrabWindow,
} from './grabFileLayout.js';
import { draftWhereabouts } from './draftWhereabouts.js';
import { loadH5wasm } from './loadH5wasm.js';
import { readRootStrings } from './readRootStrings.js';

export interface OpenGrabFileOptions {
  /** Folder of the draft; relative paths are taken from `dataRoot`. Created when missing. */
  readonly draftDir: string;
  /** Folder of the finished file; relative paths are taken from `dataRoot`. Created when missing. */
  readonly outDir: string;
  readonly window: GrabWindow;
  /** When the run was created: names the file (whole Unix seconds) and is written as an attribute. */
  readonly created: Date;
  /** Every file must resolve inside this folder (`DAQFLOW_DATA_ROOT`). Created when missing. */
  readonly dataRoot: string;
  /** Chunk length in samples of new datasets (default {@link DEFAULT_CHUNK_SAMPLES}). */
  readonly chunkSamples?: number;
  /** First part of the file name (default `MLParamData`; `MLEventData` for an events grab). */
  readonly prefix?: GrabFilePrefix;
  /**
   * More string attributes of the root group, e.g. `daqflow_run_id` (see `grabAttrs.runId`), so a
   * file found on disk leads back to its run. The layout's own attributes cannot be replaced.
   */
  readonly attributes?: Readonly<Record<string, string>>;
}

export interface GrabFileResult {
  /** Absolute path of the finished file, symlinks resolved. */
  readonly path: string;
  readonly bytes: number;
  /** Parameters written (every parameter appended at least once, even with no samples). */
  readonly parameters: number;
  /** Samples written over all parameters. */
  readonly samples: number;
}

export interface GrabFileWriter {
  /** Absolute path of the draft while it is written. */
  readonly draftPath: string;
  /** Absolute path the file will have after `finish()`. */
  readonly finalPath: string;
  /**
   * Appends samples to a parameter: `times` in UTC seconds (finite), `values` of the same length
   * (NaN allowed). `units`, where the source gives them, become the `units` attribute of the
   * parameter's `value` dataset; a later append with other units is refused. Bad input is refused
   * with a `VALIDATION_FAILED` error before anything is written, and the writer stays usable.
   */
  appendSamples(parameter: string, times: Float64Array, values: Float64Array, units?: string): void;
  /** Samples written so far for a parameter (0 when never appended). */
  samplesOf(parameter: string): number;
  /**
   * Closes, syncs and moves the draft into the out folder: to `finalPath`, or, when a file of
   * that name was written by another run (another `daqflow_run_id`), to the first free
   * `<name>-2.h5`, `-3`… (the result says which). An aborted `signal` before the move keeps the draft.
   */
  finish(signal?: AbortSignal): Promise<GrabFileResult>;
  /** Closes the draft and keeps it, for the failed run to name; nothing appears in `outDir`. */
  abort(): Promise<{ draftPath: string }>;
}

/** Kept here too: callers of the writer import it from this file. */
export { resolveDirInsideRoot };

interface ParameterState {
  rows: number;
  units: string | undefined;
  readonly time: Dataset;
  readonly value: Dataset;
}

type WriterState = 'open' | 'finished' | 'aborted' | 'failed';

const createSeries = (file: H5File, parameter: string, chunk: number): ParameterState => {
  const group = file.create_group(escapeParameterName(parameter));
  group.create_attribute(grabAttrs.parameter, parameter);
  const series = (name: string, dtype: string): Dataset =>
    group.create_dataset({ name, data: new Float64Array(0), shape: [0], maxshape: [null], chunks: [chunk], dtype });
  const time = series(grabDatasets.time.name, grabDatasets.time.dtype);
  time.create_attribute(grabAttrs.units, grabDatasets.time.units);
  time.create_attribute(grabAttrs.epoch, grabDatasets.time.epoch);
  const value = series(grabDatasets.value.name, grabDatasets.value.dtype);
  return { rows: 0, units: undefined, time, value };
};

const layoutRootAttributes: ReadonlySet<string> = new Set([
  grabAttrs.layout,
  grabAttrs.created,
  grabAttrs.windowStart,
  grabAttrs.windowStop,
]);

/** Refuses extra root attributes that would replace the layout's, or that HDF5 cannot name. */
const checkExtraAttributes = (attributes: Readonly<Record<string, string>>): Array<[string, string]> => {
  const entries = Object.entries(attributes);
  for (const [attribute, value] of entries) {
    if (attribute.length === 0 || attribute.includes('\0')) {
      throw new ValidationError(`attribute name ${JSON.stringify(attribute)} is empty or holds NUL`);
    }
    if (layoutRootAttributes.has(attribute)) {
      throw new ValidationError(`attribute ${JSON.stringify(attribute)} belongs to the layout and cannot be given`);
    }
    if (typeof value !== 'string') throw new ValidationError(`attribute ${JSON.stringify(attribute)} must be a string`);
  }
  return entries;
};

/** The run id a finished grab file records; undefined when it has none or cannot be read. */
const runIdOf = async (path: string): Promise<string | undefined> => (await readRootStrings(path, [grabAttrs.runId]))?.[grabAttrs.runId];

/**
 * The first of `nameOf(1)`, `nameOf(2)`… in `dir` that is free or holds a file of run `runId`
 * (a re-run of the same assembly replaces its own file). Two runs with the same window created in
 * the same second must not overwrite each other's data. Without a run id, the plain name.
 */
const unclaimedPath = async (dir: string, nameOf: (variant: number) => string, runId: string | undefined): Promise<string> => {
  if (runId === undefined) return join(dir, nameOf(1));
  for (let variant = 1; variant < 1_000; variant++) {
    const path = join(dir, nameOf(variant));
    try {
      await stat(path);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return path;
      throw e;
    }
    if ((await runIdOf(path)) === runId) return path;
  }
  throw new DaqflowError('INTERNAL', `no free name for ${nameOf(1)} in ${dir}: 999 files of other runs hold its variants`, { dir });
};

/**
 * Opens the draft of a grab run's file. Refuses (`VALIDATION_FAILED`) a window whose stop is not
 * after its start, and a `draftDir` or `outDir` that does not resolve inside `dataRoot` after '..'
 * and symlinks are resolved. An old draft of the same name (a crashed earlier try) is truncated.
 */
export const openGrabFile = async (options: OpenGrabFileOptions): Promise<GrabFileWriter> => {
  const chunk = options.chunkSamples ?? DEFAULT_CHUNK_SAMPLES;
  if (!Number.isInteger(chunk) || chunk < 1) throw new ValidationError('chunkSamples must be a positive integer');
  const name = grabFileName(options.window, options.created, options.prefix);
  const extraAttributes = checkExtraAttributes(options.attributes ?? {});
  if (typeof options.dataRoot !== 'string' || options.dataRoot.length === 0) {
    throw new ValidationError('dataRoot must be a non-empty path');
  }
  const rootAbsolute = resolve(options.dataRoot);
  await mkdir(rootAbsolute, { recursive: true });
  const rootReal = await realpath(rootAbsolute);
  const draftDir = await resolveDirInsideRoot(rootReal, options.draftDir, 'draftDir');
  const outDir = await resolveDirInsideRoot(rootReal, options.outDir, 'outDir');
  const draftPath = join(draftDir, draftFileName(name));
  const finalPath = join(outDir, name);
  const runId = options.attributes?.[grabAttrs.runId];

  const h5wasm = await loadH5wasm();
  const module = await h5wasm.ready;
  // h5wasm returns normally from writes the file system refused (h5WriteFailures.ts).
  watchH5Writes(module.FS);
  forgetH5WriteFailure(draftPath);
  const file = new h5wasm.File(draftPath, 'w');
  try {
    file.create_attribute(grabAttrs.layout, GRAB_LAYOUT_VERSION);
    file.create_attribute(grabAttrs.created, options.created.toISOString());
    file.create_attribute(grabAttrs.windowStart, options.window.start.toISOString());
    file.create_attribute(grabAttrs.windowStop, options.window.stop.toISOString());
    for (const [attribute, value] of extraAttributes) file.create_attribute(attribute, value);
    throwIfWriteFailed(draftPath);
  } catch (e) {
    file.close();
    forgetH5WriteFailure(draftPath);
    throw new DaqflowError('INTERNAL', `could not write the attributes of ${draftPath}`, { draftPath }, { cause: e });
  }

  const parameters = new Map<string, ParameterState>();
  let state: WriterState = 'open';
  let samples = 0;

  const requireOpen = (op: string): void => {
    if (state !== 'open') {
      throw new DaqflowError('INTERNAL', `cannot ${op}: the grab file ${draftPath} is ${state}`, { draftPath, state });
    }
  };

  const closeQuietly = (): void => {
    try {
      file.close();
    } catch {
      // already closed or broken: the draft is what it is
    }
    forgetH5WriteFailure(draftPath);
  };

  const appendSamples = (parameter: string, times: Float64Array, values: Float64Array, units?: string): void => {
    requireOpen('append');
    if (!(times instanceof Float64Array) || !(values instanceof Float64Array)) {
      throw new ValidationError(`${parameter}: times and values must be Float64Arrays`);
    }
    if (times.length !== values.length) {
      throw new ValidationError(`${parameter}: ${times.length} times but ${values.length} values`);
    }
    for (let i = 0; i < times.length; i++) {
      if (!Number.isFinite(times[i])) {
        throw new ValidationError(`${parameter}: time ${i} of this append is ${times[i]}; times must be finite`);
      }
    }
    if (units !== undefined && typeof units !== 'string') throw new ValidationError(`${parameter}: units must be a string`);
    const known = parameters.get(parameter);
    if (known?.units !== undefined && units !== undefined && units !== known.units) {
      throw new ValidationError(`${parameter}: units ${JSON.stringify(units)} differ from ${JSON.stringify(known.units)} given before`);
    }
    escapeParameterName(parameter); // refuses an empty name before anything is written

    try {
      const series = known ?? createSeries(file, parameter, chunk);
      if (!known) parameters.set(parameter, series);
      if (units !== undefined && series.units === undefined) {
        series.value.create_attribute(grabAttrs.units, units);
        series.units = units;
      }
      const n = times.length;
      if (n === 0) return;
      const from = series.rows;
      const to = from + n;
      series.time.resize([to]);
      series.value.resize([to]);
      series.time.write_slice([[from, to]], times);
      series.value.write_slice([[from, to]], values);
      throwIfWriteFailed(draftPath);
      series.rows = to;
      samples += n;
    } catch (e) {
      state = 'failed';
      closeQuietly();
      throw new DaqflowError('INTERNAL', `could not append ${parameter} to ${draftPath}: ${String(e)}`, { draftPath, parameter }, {
        cause: e,
      });
    }
  };

  const finish = async (signal?: AbortSignal): Promise<GrabFileResult> => {
    requireOpen('finish');
    try {
      file.flush();
      file.close();
      // The last metadata goes out at the close; a refused write leaves a draft that must not be published.
      throwIfWriteFailed(draftPath);
      forgetH5WriteFailure(draftPath);
      await fsyncFile(draftPath);
      const bytes = (await stat(draftPath)).size;
      const target = await unclaimedPath(outDir, (variant) => grabFileName(options.window, options.created, options.prefix, variant), runId);
      // The last moment to stop: after this the file is in the out folder.
      signal?.throwIfAborted();
      await publishDraft(draftPath, target);
      state = 'finished';
      return { path: target, bytes, parameters: parameters.size, samples };
    } catch (e) {
      state = 'failed';
      closeQuietly();
      throw new DaqflowError('INTERNAL', `could not finish ${finalPath} (${draftWhereabouts(draftPath)}): ${String(e)}`, {
        draftPath,
        finalPath,
      }, { cause: e });
    }
  };

  const abort = (): Promise<{ draftPath: string }> => {
    if (state === 'open' || state === 'failed') {
      closeQuietly();
      state = 'aborted';
    } else if (state === 'finished') {
      return Promise.reject(new DaqflowError('INTERNAL', `cannot abort: ${finalPath} is already finished`, { finalPath }));
    }
    return Promise.resolve({ draftPath });
  };

  return {
    draftPath,
    finalPath,
    appendSamples,
    samplesOf: (parameter) => parameters.get(parameter)?.rows ?? 0,
    finish,
    abort,
  };
};
