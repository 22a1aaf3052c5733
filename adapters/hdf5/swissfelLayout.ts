/**
 * The layout of a writer acquisition's HDF5 file: the "SwissFEL bsread" layout of
 * sf_bsread_writer (docs/formats.md), with pulse ids of missing rows kept.
 * Pure (no I/O), shared by the writer and the tools and tests that read these files.
 *
 * ```
 * <output file>                      attrs: layout = "daqflow-swissfel/1"
 *   /general/created, instrument, process, user
 *                                    scalar fixed-length ASCII strings ("not given" when not given),
 *                                    see {@link generalStringDtype}
 *   /data/<channel>/data             (N, *reversed(bsread shape)); scalars (N, 1); string channels (N,)
 *   /data/<channel>/pulse_id         int64 (N,)  the pulse id of every row, present or not
 *   /data/<channel>/is_data_present  uint8 (N,)  1 = the channel had a value in that pulse
 *   /data/<channel>/data(1), data(2)… earlier versions of `data` after a type or shape change
 *   /staging/…                       the writer's own names of the same objects (see below)
 * ```
 *
 * Rows: one per pulse from the first pulse written to the last, in order, the same N for every
 * dataset of every channel (except superseded `data(k)`, see below). A pulse missing from the
 * stream, or a channel without a value in a pulse, is a row with `is_data_present = 0`, its REAL
 * pulse id (sf_bsread_writer wrote 0 there) and zeros in `data`.
 *
 * Types: `data` has the numpy dtype of the bsread type, little-endian: int8…uint64 → i1…u8,
 * float32/64 → f4/f8. **bool → uint8** (0/1): h5wasm cannot write HDF5 enum types, the form in
 * which h5py stores numpy bools, so `bool` channels read back as uint8 (sf_bsread_writer: `?`).
 * **string → variable-length UTF-8 strings, shape (N,)**, as sf_bsread_writer writes them; a missing
 * value is the empty string. h5wasm cannot write variable-length strings into part of a dataset,
 * so the writer keeps a string channel's values in memory and writes the dataset when the file is
 * finished (or aborted).
 *
 * Type or shape changes: as sf_bsread_writer does, the dataset of the old type keeps the rows up to
 * the change and is named `data(1)` (then `data(2)`…); `data` has the newest type and all N rows,
 * zeros (not present) where an older version held the value. A channel whose values are all
 * missing still gets a `data` dataset, of the type its data header declared last.
 *
 * Staging: HDF5 can rename a link only through calls h5wasm does not offer (H5Lmove/H5Ldelete), yet
 * which dataset ends as `data` is known only at the end. So the writer creates every object under
 * `/staging/<channel>/` (versions after the first as `data@1`, `data@2`…) and, when the file is
 * finished, creates `/data` with hard links to them: `/data` is the same group as `/staging` when no
 * channel changed type; otherwise it is a group of its own whose channel groups name the versions
 * as above. `/staging` sorts after `/data` and `/general`, so visitors (h5py `visititems`) meet every
 * object under its `/data` name first. Channel names are escaped like grab-run parameter names
 * (`/` → `%2F`, `%` → `%25`), which leaves every real bsread channel name unchanged.
 */
import type { BsreadChannelConfig, BsreadType } from '../bsread/bsreadMessage.js';
import { elementSize, hdf5ShapeOf } from '../bsread/bsreadMessage.js';
import { draftFileName, escapeParameterName } from './grabFileLayout.js';

/** Version of this layout, written as the root attribute `layout`. */
export const SWISSFEL_LAYOUT_VERSION = 'daqflow-swissfel/1';

/** The fields of `/general`, as sf_bsread_writer's `POST /parameters` names them. */
export const swissfelGeneralFields = ['created', 'instrument', 'process', 'user'] as const;
export type SwissfelGeneralField = (typeof swissfelGeneralFields)[number];
export type SwissfelGeneral = Partial<Record<SwissfelGeneralField, string>>;
/** What sf_bsread_writer writes for a field that was never given. */
export const GENERAL_NOT_GIVEN = 'not given';

/**
 * The h5wasm dtype of a `/general` value: fixed-length ASCII (`H5T_C_S1`, cset ASCII) of exactly
 * the value's bytes, the type sf_bsread_writer's h5py gives `numpy.string_(value)`, so that
 * `f['general/user'][()]` is `bytes` (dtype `S<n>`) in both files. h5wasm writes such strings
 * null-terminated (`H5T_STR_NULLTERM`) where h5py writes them null-padded; both read back as the
 * same bytes. A value that is not ASCII (which numpy.string_ refuses) is written as fixed-length
 * UTF-8 instead, so that its bytes are not labelled as something they are not.
 */
export const generalStringDtype = (value: string): string => {
  const bytes = Math.max(1, Buffer.byteLength(value, 'utf8'));
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(value) ? `A${bytes}` : `S${bytes}`;
};

/** Names of a channel's datasets. */
export const swissfelDatasets = {
  data: 'data',
  pulseId: 'pulse_id',
  isDataPresent: 'is_data_present',
} as const;

export const swissfelAttrs = {
  /** On the root group: the layout version. */
  layout: 'layout',
  /** On the root group, when given: the id of the acquisition the file was written for. */
  acquisition: 'daqflow_acquisition',
  /** On the root group of a finished file: what the writer wrote, as JSON (SwissfelFileStats). */
  summary: 'daqflow_summary',
} as const;

/** Top-level group names. */
export const swissfelGroups = {
  general: 'general',
  data: 'data',
  staging: 'staging',
} as const;

/** The link name of a channel's group (see {@link escapeParameterName}). */
export const escapeChannelName = (channel: string): string => escapeParameterName(channel);

/** `/data/<channel>` */
export const channelGroupPath = (channel: string): string => `/${swissfelGroups.data}/${escapeChannelName(channel)}`;

/** `/staging/<channel>` */
export const stagingGroupPath = (channel: string): string => `/${swissfelGroups.staging}/${escapeChannelName(channel)}`;

/** Final name of a superseded version of `data`: the first one (k = 1) is `data(1)`. */
export const supersededDataName = (k: number): string => `${swissfelDatasets.data}(${k})`;

/** Name in the staging group of the `index`-th version (0-based) of a channel's `data`. */
export const stagedDataName = (index: number): string => (index === 0 ? swissfelDatasets.data : `${swissfelDatasets.data}@${index}`);

/**
 * Final names of `versions` versions of a channel's data, oldest first: `[data]` for one,
 * `[data(1), data]` for two, `[data(1), data(2), data]` for three…
 */
export const finalDataNames = (versions: number): string[] =>
  Array.from({ length: versions }, (_, i) => (i === versions - 1 ? swissfelDatasets.data : supersededDataName(i + 1)));

/** h5wasm dtype strings (little-endian) of the numeric bsread types. */
const numericDtypes: Record<Exclude<BsreadType, 'string'>, string> = {
  bool: '<B',
  int8: '<b',
  uint8: '<B',
  int16: '<h',
  uint16: '<H',
  int32: '<i',
  uint32: '<I',
  int64: '<q',
  uint64: '<Q',
  float32: '<f',
  float64: '<d',
};

/** The h5wasm dtype of a channel's `data`: `'S'` (variable-length UTF-8) for strings. */
export const h5DtypeOf = (type: BsreadType): string => (type === 'string' ? 'S' : numericDtypes[type]);

/** `pulse_id` is int64, `is_data_present` uint8. */
export const PULSE_ID_DTYPE = '<q';
export const IS_DATA_PRESENT_DTYPE = '<B';

/**
 * The shape of one row of a channel's `data`: `[1]` for scalars (sf_bsread_writer's (N, 1)),
 * the bsread shape reversed otherwise, `[]` for strings (one string per row, whatever the shape).
 */
export const dataRowShape = (channel: Pick<BsreadChannelConfig, 'type' | 'shape'>): number[] => {
  if (channel.type === 'string') return [];
  const shape = hdf5ShapeOf(channel);
  return shape.length === 0 ? [1] : shape;
};

/** Bytes of one row of a numeric channel's `data` (the length its value must have). */
export const dataRowBytes = (channel: Pick<BsreadChannelConfig, 'type' | 'shape'>): number =>
  dataRowShape(channel).reduce((a, b) => a * b, 1) * elementSize(channel.type);

/** Target size of a chunk when the caller does not choose the rows per chunk. */
export const DEFAULT_CHUNK_BYTES = 1 << 20;
/** Most rows per chunk by default (scalars: 8 KB chunks, like the 1,000 rows sf_bsread_writer grows by). */
export const MAX_DEFAULT_CHUNK_ROWS = 1_000;

/**
 * Rows per chunk of a dataset whose rows are `rowBytes` long: as many as fit in
 * {@link DEFAULT_CHUNK_BYTES}, between 1 and {@link MAX_DEFAULT_CHUNK_ROWS}. A 1024×1280 uint16 image
 * (2.6 MB) is 1 row per chunk, a 1,000-sample float64 waveform 131, a scalar 1,000.
 */
export const defaultChunkRows = (rowBytes: number): number =>
  Math.max(1, Math.min(MAX_DEFAULT_CHUNK_ROWS, Math.floor(DEFAULT_CHUNK_BYTES / Math.max(1, rowBytes))));

/** The draft's name beside the final file: `.<name>.draft` (hidden, not ending in `.h5`). */
export const swissfelDraftName = (finalName: string): string => draftFileName(finalName);
