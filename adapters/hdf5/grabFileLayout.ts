/**
 * The layout of a grab run's HDF5 file: where a parameter's data lives, what the file is called,
 * which datasets and dtypes it holds. Pure (no I/O, no clock), so the actor, the statistics job and
 * the tools that read these files share one definition.
 *
 * ```
 * MLParamData_<createdUnix>_<start>_to_<stop>.h5     (an events grab: MLEventData_…, one group per event channel)
 *   attrs: created, window_start, window_stop (ISO 8601 UTC), layout = "daqflow-grab/1",
 *          daqflow_run_id (the grab run that wrote it, when written by one)
 *   /<escaped parameter>/               attrs: parameter (the name as the data logger spells it)
 *       utc_seconds   float64 (N,)      attrs: units = "s", epoch = "1970-01-01T00:00:00Z"
 *       value         float64 (N,)      attrs: units (only where the source gives them)
 * ```
 *
 * Both datasets are one-dimensional, chunked and unlimited along their only axis, the same length,
 * row i of `value` sampled at row i of `utc_seconds`. NaN is a value like any other.
 */
import { ValidationError } from '../../events/errors.js';

/** Version of this layout, written as the root attribute `layout`. */
export const GRAB_LAYOUT_VERSION = 'daqflow-grab/1';

/** Dataset names and their HDF5 dtypes (h5wasm dtype strings: `<d` is little-endian float64). */
export const grabDatasets = {
  time: { name: 'utc_seconds', dtype: '<d', units: 's', epoch: '1970-01-01T00:00:00Z' },
  value: { name: 'value', dtype: '<d' },
} as const;

/** Attribute names used in the file. */
export const grabAttrs = {
  /** On the root group: the layout version. */
  layout: 'layout',
  /** On the root group: when the run was created, ISO 8601 UTC. */
  created: 'created',
  /** On the root group: the window, ISO 8601 UTC. */
  windowStart: 'window_start',
  windowStop: 'window_stop',
  /** On the root group, optional: the id of the grab run that wrote the file. */
  runId: 'daqflow_run_id',
  /** On each parameter group: the parameter's name unescaped. */
  parameter: 'parameter',
  /** On a dataset: its units. */
  units: 'units',
  /** On `utc_seconds`: the epoch the seconds count from. */
  epoch: 'epoch',
} as const;

/**
 * Default chunk length in samples: 4,096 float64 = 32 KiB per chunk, inside HDF5's advice of
 * 10 KiB to 1 MiB. A day at 1 Hz is 22 chunks; a parameter with one sample wastes 32 KiB per dataset.
 */
export const DEFAULT_CHUNK_SAMPLES = 4_096;

/**
 * The link name of a parameter's group, escaped reversibly with percent-encoding:
 *
 * - `%` becomes `%25` (so every `%` in an escaped name starts an escape and decoding is unambiguous),
 * - `/` becomes `%2F` (HDF5's path separator),
 * - NUL becomes `%00` (the HDF5 C API takes NUL-terminated names),
 * - a name that is exactly `.` becomes `%2E` (HDF5 reads `.` as "this group").
 *
 * Every other character is kept, so EPICS/ACNET names read as themselves: `B:VIMIN` → `B:VIMIN`,
 * `G:OUTTMP[3]` → `G:OUTTMP[3]`, `a/b` → `a%2Fb`, `50%` → `50%25`. An empty name is refused.
 * The unescaped name is also kept in the group's `parameter` attribute.
 */
export const escapeParameterName = (parameter: string): string => {
  if (parameter.length === 0) throw new ValidationError('a parameter name must not be empty');
  if (parameter === '.') return '%2E';
  return parameter.replace(/[%/\0]/g, (c) => (c === '%' ? '%25' : c === '/' ? '%2F' : '%00'));
};

/** The inverse of {@link escapeParameterName}. Refuses a string that no escape could produce. */
export const unescapeParameterName = (linkName: string): string => {
  if (linkName === '%2E') return '.';
  if (linkName.length === 0 || linkName === '.' || /[/\0]/.test(linkName)) {
    throw new ValidationError(`${JSON.stringify(linkName)} is not an escaped parameter name`);
  }
  const out = linkName.replace(/%(25|2F|00)|%/g, (match, code: string | undefined) => {
    if (code === undefined) {
      throw new ValidationError(`${JSON.stringify(linkName)} has a '%' that starts no escape (%25, %2F, %00)`);
    }
    return code === '25' ? '%' : code === '2F' ? '/' : '\0';
  });
  if (out === '.') throw new ValidationError(`${JSON.stringify(linkName)} is not an escaped parameter name`);
  return out;
};

/** Absolute HDF5 path of a parameter's group: `/<escaped>`. */
export const parameterGroupPath = (parameter: string): string => `/${escapeParameterName(parameter)}`;

/** Absolute HDF5 paths of a parameter's two datasets. */
export const parameterDatasetPaths = (parameter: string): { time: string; value: string } => {
  const group = parameterGroupPath(parameter);
  return { time: `${group}/${grabDatasets.time.name}`, value: `${group}/${grabDatasets.value.name}` };
};

/** Prefix of every grab-run parameter file, as in GMPS-AI's ParamDataGrabber.py. */
export const GRAB_FILE_PREFIX = 'MLParamData';
/** Prefix of an events-mode grab file (the times timing events fired), as in EventDataGrabber.py. */
export const GRAB_EVENTS_FILE_PREFIX = 'MLEventData';
export const grabFilePrefixes = [GRAB_FILE_PREFIX, GRAB_EVENTS_FILE_PREFIX] as const;
export type GrabFilePrefix = (typeof grabFilePrefixes)[number];

const checkPrefix = (prefix: string): GrabFilePrefix => {
  if (!(grabFilePrefixes as readonly string[]).includes(prefix)) {
    throw new ValidationError(`${JSON.stringify(prefix)} is not a grab file prefix (${grabFilePrefixes.join(', ')})`);
  }
  return prefix as GrabFilePrefix;
};

const validDate = (what: string, d: Date): Date => {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new ValidationError(`${what} is not a valid date`);
  return d;
};

/**
 * A UTC time as compact ISO 8601 basic format, safe in every file system (no ':'):
 * `20240315T000000Z`, with milliseconds only when they are not zero: `20240315T000000.250Z`.
 */
export const compactIsoUtc = (d: Date): string => {
  const iso = validDate('time', d).toISOString(); // 2024-03-15T00:00:00.250Z
  if (iso.length !== 24) throw new ValidationError(`${iso} is outside the years 0000 to 9999`);
  const [date = '', rest = ''] = iso.split('T');
  const ms = rest.slice(9, 12);
  return `${date.replaceAll('-', '')}T${rest.slice(0, 8).replaceAll(':', '')}${ms === '000' ? '' : `.${ms}`}Z`;
};

/** The inverse of {@link compactIsoUtc}. */
export const parseCompactIsoUtc = (s: string): Date => {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(?:\.(\d{3}))?Z$/.exec(s);
  if (!m) throw new ValidationError(`${JSON.stringify(s)} is not a compact ISO 8601 UTC time`);
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7] ?? '000'}Z`);
  if (Number.isNaN(d.getTime()) || compactIsoUtc(d) !== s) throw new ValidationError(`${JSON.stringify(s)} is not a valid time`);
  return d;
};

export interface GrabWindow {
  readonly start: Date;
  readonly stop: Date;
}

/**
 * The final name of a grab run's file:
 * `MLParamData_<createdUnix>_<start>_to_<stop>.h5`, where `createdUnix` is the creation time in
 * whole Unix seconds and `start`/`stop` are the window's bounds in {@link compactIsoUtc} form, e.g.
 * `MLParamData_1710471600_20240314T000000Z_to_20240315T000000Z.h5`. An events grab passes the
 * prefix `MLEventData`.
 *
 * This differs from ParamDataGrabber.py's `MLParamData_<unixtime>_From_<node>_<YYYY-MM-DD+HH:MM:SS>_to_<…>.h5`:
 * there is no node (one file holds every parameter of the run) and no ':' (not allowed on some
 * file systems and awkward in shells). {@link parseGrabFileName} reads the bounds back.
 */
export const grabFileName = (
  window: GrabWindow,
  created: Date,
  prefix: GrabFilePrefix = GRAB_FILE_PREFIX,
  /** 1 for the plain name; n > 1 adds `-n` before `.h5` (another run's file held the plain one). */
  variant = 1,
): string => {
  if (!Number.isInteger(variant) || variant < 1) throw new ValidationError('variant must be a whole number of 1 or more');
  checkPrefix(prefix);
  validDate('window.start', window.start);
  validDate('window.stop', window.stop);
  if (window.stop.getTime() <= window.start.getTime()) {
    throw new ValidationError(
      `window.stop (${window.stop.toISOString()}) must be after window.start (${window.start.toISOString()})`,
    );
  }
  const createdMs = validDate('created', created).getTime();
  if (createdMs < 0) throw new ValidationError('created must not be before 1970');
  const createdUnix = Math.floor(createdMs / 1000);
  return `${prefix}_${createdUnix}_${compactIsoUtc(window.start)}_to_${compactIsoUtc(window.stop)}${variant > 1 ? `-${variant}` : ''}.h5`;
};

/**
 * Reads a {@link grabFileName} with that prefix back; `created` is whole seconds. Undefined for any
 * other name (including a name with the other prefix).
 */
export const parseGrabFileName = (
  name: string,
  prefix: GrabFilePrefix = GRAB_FILE_PREFIX,
): { createdUnix: number; window: { start: Date; stop: Date } } | undefined => {
  const m = new RegExp(`^${checkPrefix(prefix)}_(\\d+)_([0-9T.Z]+)_to_([0-9T.Z]+?)(?:-[2-9]|-[1-9]\\d+)?\\.h5$`).exec(name);
  if (!m) return undefined;
  try {
    return {
      createdUnix: Number(m[1]),
      window: { start: parseCompactIsoUtc(m[2] ?? ''), stop: parseCompactIsoUtc(m[3] ?? '') },
    };
  } catch {
    return undefined;
  }
};

/**
 * The name of the draft in the draft folder while the file is written: `.<final name>.draft`.
 * Hidden, and not ending in `.h5`, so that nothing that watches for `ML*Data_*.h5` picks up an
 * unfinished file even when the draft folder is the out folder.
 */
export const draftFileName = (finalName: string): string => `.${finalName}.draft`;

/** The name of a draft's copy across file systems (see `publishDraft`). */
export { partialFileName } from '../files/publishDraft.js';
