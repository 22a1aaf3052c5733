/**
 * Writes one writer acquisition's HDF5 file in the SwissFEL layout (`swissfelLayout.ts`), one row
 * per pulse, streaming: `writePulse` is called for every pulse id from the first to the last, in
 * order, with the pulse's decoded bsread message or null when the pulse is missing from the stream.
 *
 * The file is written as a draft beside the final file (`.<name>.draft`, hidden, not ending in
 * `.h5`) and appears under its final name only when `finish()` has written the last rows, closed,
 * synced and renamed it, so a reader never sees a partial file under that name. `abort()` writes
 * what it still can into the draft, closes and keeps it, and names it.
 *
 * Speed. h5wasm offers no direct chunk write (neither `H5Dwrite_chunk` nor `H5DOwrite_chunk` is
 * exported by its wasm build) and opens and closes a dataset on every read or write, which empties
 * HDF5's chunk cache each time. So the writer never writes a part of a chunk it will write again:
 * each dataset's rows are gathered in a buffer of exactly one chunk and written with one H5Dwrite
 * when the chunk is full (a 1,000-row chunk of a scalar, of `is_data_present`…). Rows of
 * `pulse_id` are not buffered at all: row r is `first pulse id + r`, generated when its chunk is
 * written. A channel whose row is a chunk (a camera image: 1 row of 2.6 MB) is written straight
 * from the message's bytes, through one reused buffer in the wasm heap, to one H5Dwrite of one full
 * chunk, which HDF5 writes to the file without the chunk cache (`fs.writeSync` from the heap). A
 * chunk of zeros (all rows missing) is not written at all: HDF5 reads an unwritten chunk as the
 * fill value 0. Datasets are grown by at least 1,000 rows at a time and trimmed to N at the end.
 *
 * Memory: one chunk per numeric dataset (1 MiB at most by default, see `defaultChunkRows`), plus
 * every string channel's values until the end (h5wasm writes variable-length strings only as a
 * whole dataset). h5wasm is synchronous: a `writePulse` blocks the event loop while it writes (about
 * 2 ms for a 2.6 MB image). Calls on one writer must not interleave with its `finish()`/`abort()`.
 */
import { constants } from 'node:fs';
import { mkdir, open, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { File as H5File } from 'h5wasm/node';
import { DaqflowError, ValidationError } from '../../events/errors.js';
import { bsreadTypes, type BsreadChannelConfig, type BsreadMessage, type BsreadType } from '../bsread/bsreadMessage.js';
import { checkDirInsideRoot, errnoOf, resolveDirInsideRoot } from '../files/dataRootPaths.js';
import { forgetH5WriteFailure, throwIfWriteFailed, watchH5Writes } from './h5WriteFailures.js';
import { createPageCacheRelease } from './pageCacheRelease.js';
import { publishDraft } from '../files/publishDraft.js';
import {
  GENERAL_NOT_GIVEN,
  IS_DATA_PRESENT_DTYPE,
  PULSE_ID_DTYPE,
  SWISSFEL_LAYOUT_VERSION,
  dataRowBytes,
  dataRowShape,
  defaultChunkRows,
  escapeChannelName,
  finalDataNames,
  generalStringDtype,
  h5DtypeOf,
  stagedDataName,
  swissfelAttrs,
  swissfelDatasets,
  swissfelDraftName,
  swissfelGeneralFields,
  swissfelGroups,
  type SwissfelGeneral,
} from './swissfelLayout.js';
import { draftWhereabouts } from './draftWhereabouts.js';
import { loadH5wasm, type H5Module, type H5wasm } from './loadH5wasm.js';

export interface OpenSwissfelFileOptions {
  /** Path of the finished file; a relative path is taken from `dataRoot`. Its folder is created. */
  readonly outputFile: string;
  /** Every file must resolve inside this folder (`DAQFLOW_DATA_ROOT`). Created when missing. */
  readonly dataRoot: string;
  /** `/general/*`; a field not given is written as "not given", as sf_bsread_writer does. */
  readonly general?: SwissfelGeneral;
  /**
   * Rows per chunk of every dataset (fewer where a chunk would exceed 256 MiB). Default: per
   * dataset, as many rows as fit in 1 MiB, at most 1,000 (`defaultChunkRows`): 1 row for a 2.6 MB
   * image, 1,000 for scalars.
   */
  readonly chunkRows?: number;
  /**
   * Largest jump between consecutive pulse ids (missing pulses in between), default 1,000,000:
   * a bigger jump is refused, since it would write that many rows for every channel.
   */
  readonly maxGapPulses?: number;
  /** Replace an existing file at `outputFile` when finishing (default: refuse at open). */
  readonly overwrite?: boolean;
  /**
   * Drop the draft's written pages from the page cache after every this many value bytes
   * (`pageCacheRelease.ts`); 0: never. Default 128 MiB.
   */
  readonly releasePageCacheEveryBytes?: number;
  /**
   * The acquisition the file is written for, kept in the file (root attribute
   * `daqflow_acquisition`, with the writer's summary as `daqflow_summary` once finished): a
   * process that restarts after the file was published, but before the acquisition recorded it,
   * finds the file its own (readSwissfelOwner.ts) instead of refusing it as already there.
   */
  readonly acquisitionId?: string;
}

export interface SwissfelFileStats {
  /** First and last pulse written (null before the first). */
  readonly firstPulseId: number | null;
  readonly lastPulseId: number | null;
  /** Rows so far: lastPulseId − firstPulseId + 1. */
  readonly rows: number;
  /** Pulses written with a message. */
  readonly pulsesWithMessage: number;
  /** Pulses without a message: `writePulse(id, null)` and the ids skipped between two calls. */
  readonly pulsesMissing: number;
  readonly channels: number;
  /** Channel values written (is_data_present = 1). */
  readonly valuesPresent: number;
  /** Values refused (size not matching type and shape, or a channel config that cannot be written): written as missing. */
  readonly valuesRefused: number;
  /** Channel versions superseded by a type or shape change. */
  readonly typeChanges: number;
  /** Value bytes written (present values only). */
  readonly valueBytes: number;
  /** UTF-8 bytes of string values held in memory until the end. */
  readonly stringBytesHeld: number;
}

export interface SwissfelFileResult {
  /** Absolute path of the finished file, symlinks of its folder resolved. */
  readonly path: string;
  /** Size of the file in bytes. */
  readonly bytes: number;
  readonly stats: SwissfelFileStats;
  /** Page-cache releases run while writing (pageCacheRelease.ts), and why they stopped, if they did. */
  readonly pageCache: { readonly releases: number; readonly stopped: string | null };
}

export interface SwissfelFileWriter {
  /** Absolute path of the draft while it is written. */
  readonly draftPath: string;
  /** Absolute path the file will have after `finish()`. */
  readonly finalPath: string;
  /**
   * Writes the row of one pulse. Pulse ids must increase; ids skipped since the previous call are
   * written as missing rows (every channel: is_data_present 0, the real pulse id). `message` null:
   * the pulse is missing from the stream. A channel of an earlier pulse that is not in `message` is
   * missing in this row; a channel first seen now gets missing rows for the earlier pulses.
   * Refuses (`VALIDATION_FAILED`, writer still usable) a pulse id that does not increase or that
   * jumps by more than `maxGapPulses`, and a message whose pulse id differs from `pulseId`.
   */
  writePulse(pulseId: number, message: BsreadMessage | null): void;
  /** Writes the last rows, closes, syncs and renames the draft to `finalPath`. */
  finish(): Promise<SwissfelFileResult>;
  /** Writes what it can, closes the draft and keeps it; nothing appears at `finalPath`. */
  abort(): Promise<{ draftPath: string }>;
  stats(): SwissfelFileStats;
}


const fsyncFile = async (path: string): Promise<void> => {
  const fh = await open(path, constants.O_RDWR);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
};

/** Datasets grow by at least this many rows at a time (HDF5 allocates only the chunks written). */
const GROW_ROWS = 1_000;
/** Larger rows are refused: the wasm heap is 32-bit and one row is written at once. */
const MAX_ROW_BYTES = 1 << 30;
const DEFAULT_MAX_GAP = 1_000_000;
/** A chunk is buffered whole in memory (and HDF5 refuses chunks of 4 GiB): `chunkRows` is capped to this. */
const MAX_CHUNK_BYTES = 256 * 2 ** 20;
const TWO_32 = 2 ** 32;

/** The h5wasm calls the writer makes, on one open file, with its errors turned into throws. */
class H5Io {
  private scratchPtr = 0;
  private scratchSize = 0;

  constructor(
    readonly h5wasm: H5wasm,
    readonly module: H5Module,
    readonly file: H5File,
    readonly draftPath: string,
  ) {}

  private check(status: number, what: string): void {
    if (typeof status === 'number' && status < 0) throw new Error(`HDF5 could not ${what} (status ${status})`);
    // h5wasm returns 0 from a write the file system refused (h5WriteFailures.ts).
    this.checkWrites();
  }

  /** Throws the file system's error if a write to the file failed since it was opened. */
  checkWrites(): void {
    throwIfWriteFailed(this.draftPath);
  }

  /** A buffer of at least `bytes` in the wasm heap, reused from call to call. */
  private heap(bytes: number): number {
    if (bytes > this.scratchSize) {
      if (this.scratchPtr !== 0) this.module._free(this.scratchPtr);
      this.scratchPtr = 0;
      const size = Math.max(bytes, 64 * 1024);
      const ptr = this.module._malloc(size);
      if (!ptr) throw new Error(`could not allocate ${size} bytes in the wasm heap`);
      this.scratchPtr = ptr;
      this.scratchSize = size;
    }
    return this.scratchPtr;
  }

  /** Writes `count` rows from `start` of a dataset whose rows have shape `tail` (BigInts). */
  writeRows(path: string, tail: readonly bigint[], start: number, count: number, bytes: Uint8Array): void {
    const ptr = this.heap(bytes.byteLength);
    this.module.HEAPU8.set(bytes, ptr); // HEAPU8 read after the malloc: the heap may have grown
    const zeros = tail.map(() => 0n);
    const ones = tail.map(() => 1n);
    const status = this.module.set_dataset_data(
      this.file.file_id,
      path,
      [BigInt(count), ...tail],
      [BigInt(start), ...zeros],
      [1n, ...ones],
      BigInt(ptr),
    );
    this.check(status, `write rows ${start}..${start + count - 1} of ${path}`);
  }

  resize(path: string, rows: number, tail: readonly bigint[]): void {
    this.check(this.module.resize_dataset(this.file.file_id, path, [BigInt(rows), ...tail]), `resize ${path} to ${rows} rows`);
  }

  createChunked(path: string, dtype: string, rowShape: readonly number[], chunkRows: number): void {
    const parent = dirname(path);
    const group = this.file.get(parent);
    if (!(group instanceof this.h5wasm.Group)) throw new Error(`${parent} is not a group`);
    group.create_dataset({
      name: basename(path),
      data: [],
      shape: [0, ...rowShape],
      maxshape: [null, ...rowShape],
      chunks: [chunkRows, ...rowShape],
      dtype,
    });
    this.checkWrites();
  }

  createStrings(path: string, values: string[]): void {
    const group = this.file.get(dirname(path));
    if (!(group instanceof this.h5wasm.Group)) throw new Error(`${dirname(path)} is not a group`);
    group.create_dataset({ name: basename(path), data: values, shape: [values.length], dtype: 'S' });
    this.checkWrites();
  }

  hardLink(target: string, link: string): void {
    this.check(this.module.create_hard_link(this.file.file_id, target, link), `link ${link} to ${target}`);
  }

  release(): void {
    if (this.scratchPtr !== 0) this.module._free(this.scratchPtr);
    this.scratchPtr = 0;
    this.scratchSize = 0;
  }
}

const roundUp = (n: number, step: number): number => Math.ceil(n / step) * step;

/**
 * Chunk writes waiting to be done. Every column of a file fills its chunk on the same row (rows are
 * aligned), so writing each chunk when it fills would put hundreds of writes on one pulse (45-115
 * ms for 200 channels, more than a receive queue covers at 1 kHz). Full chunks wait here instead and
 * the writer does a few after each pulse; everything is written before a column is closed.
 */
class WriteQueue {
  private readonly writes: Array<() => void> = [];
  private head = 0;

  push(write: () => void): void {
    this.writes.push(write);
  }

  /** Does up to `max` waiting writes, oldest first. */
  drain(max: number): void {
    const end = Math.min(this.writes.length, this.head + max);
    while (this.head < end) this.writes[this.head++]!();
    if (this.head === this.writes.length) {
      this.writes.length = 0;
      this.head = 0;
    }
  }

  drainAll(): void {
    this.drain(Number.POSITIVE_INFINITY);
  }

  get waiting(): number {
    return this.writes.length - this.head;
  }
}

const DEFAULT_RELEASE_EVERY = 128 * 1024 ** 2;

/** Waiting chunk writes done after each pulse: 600 chunks (200 channels) drain in 150 pulses. */
const WRITES_PER_PULSE = 4;

/**
 * One numeric dataset written row by row: rows gathered in a one-chunk buffer, written when the
 * chunk is full (straight through when a row is a chunk). Rows appended with `skip` are zeros.
 */
class RowColumn {
  rows = 0;
  private extent = 0;
  private bufStart = 0;
  private dirty = false;
  private buf: Uint8Array | undefined;
  /** A written chunk buffer, zeroed, for the next chunk. */
  private spare: Uint8Array | undefined;
  private readonly tail: readonly bigint[];
  private readonly growRows: number;

  constructor(
    private readonly io: H5Io,
    readonly path: string,
    rowShape: readonly number[],
    readonly rowBytes: number,
    readonly chunkRows: number,
    private readonly queue: WriteQueue,
  ) {
    this.tail = rowShape.map(BigInt);
    this.growRows = roundUp(GROW_ROWS, chunkRows);
  }

  private ensureExtent(end: number): void {
    if (end <= this.extent) return;
    this.extent = roundUp(end, this.growRows);
    this.io.resize(this.path, this.extent, this.tail);
  }

  appendRow(bytes: Uint8Array): void {
    if (this.chunkRows === 1) {
      this.ensureExtent(this.rows + 1);
      this.io.writeRows(this.path, this.tail, this.rows, 1, bytes);
      this.rows++;
      this.bufStart = this.rows;
      return;
    }
    const buf = (this.buf ??= new Uint8Array(this.chunkRows * this.rowBytes));
    const off = (this.rows - this.bufStart) * this.rowBytes;
    if (this.rowBytes <= 16) for (let k = 0; k < this.rowBytes; k++) buf[off + k] = bytes[k] ?? 0;
    else buf.set(bytes, off);
    this.dirty = true;
    if (++this.rows - this.bufStart === this.chunkRows) this.flush();
  }

  /** Appends a one-byte row (is_data_present). */
  appendByte(value: number): void {
    if (value === 0) {
      this.skip(1);
      return;
    }
    const buf = (this.buf ??= new Uint8Array(this.chunkRows * this.rowBytes));
    buf[this.rows - this.bufStart] = value;
    this.dirty = true;
    if (++this.rows - this.bufStart === this.chunkRows) this.flush();
  }

  /** Appends `n` rows of zeros: nothing is written for chunks that stay all zeros. */
  skip(n: number): void {
    while (n > 0) {
      if (!this.dirty && this.rows === this.bufStart && n >= this.chunkRows) {
        const whole = n - (n % this.chunkRows);
        this.rows += whole;
        this.bufStart = this.rows;
        n -= whole;
        continue;
      }
      const k = Math.min(n, this.chunkRows - (this.rows - this.bufStart));
      this.rows += k;
      n -= k;
      if (this.rows - this.bufStart === this.chunkRows) this.flush();
    }
  }

  /**
   * Writes the buffered rows (a whole chunk, or the last part of one at the end): at once when
   * `now`, else queued with the buffer handed over (a spare takes its place).
   */
  flush(now = false): void {
    const count = this.rows - this.bufStart;
    const buf = this.buf;
    if (count > 0 && this.dirty && buf !== undefined) {
      const start = this.bufStart;
      const end = this.rows;
      const bytes = count * this.rowBytes;
      const write = (): void => {
        this.ensureExtent(end);
        this.io.writeRows(this.path, this.tail, start, count, buf.subarray(0, bytes));
        buf.fill(0, 0, bytes);
        this.spare ??= buf;
      };
      if (now) {
        write();
      } else {
        this.buf = this.spare;
        this.spare = undefined;
        this.queue.push(write);
      }
    }
    this.dirty = false;
    this.bufStart = this.rows;
  }

  /** Writes the last rows and sets the extent to exactly the rows appended (its queued writes done first). */
  close(): void {
    this.queue.drainAll();
    this.flush(true);
    this.buf = undefined;
    if (this.extent !== this.rows) {
      this.extent = this.rows;
      this.io.resize(this.path, this.rows, this.tail);
    }
  }
}

/** The `pulse_id` of a channel: row r is `firstPulseId + r`, generated when its chunk is written. */
class PulseIdColumn {
  rows = 0;
  private written = 0;
  private extent = 0;

  constructor(
    private readonly io: H5Io,
    readonly path: string,
    readonly chunkRows: number,
    private readonly pulseIds: (startRow: number, count: number) => Uint8Array,
    private readonly queue: WriteQueue,
  ) {}

  private write(count: number, now = false): void {
    const start = this.written;
    const end = start + count;
    this.written = end;
    const write = (): void => {
      if (end > this.extent) {
        this.extent = roundUp(end, roundUp(GROW_ROWS, this.chunkRows));
        this.io.resize(this.path, this.extent, []);
      }
      this.io.writeRows(this.path, [], start, count, this.pulseIds(start, count));
    };
    if (now) write();
    else this.queue.push(write);
  }

  advance(n: number): void {
    this.rows += n;
    while (this.rows - this.written >= this.chunkRows) this.write(this.chunkRows);
  }

  close(): void {
    this.queue.drainAll();
    if (this.rows > this.written) this.write(this.rows - this.written, true);
    if (this.extent !== this.rows) {
      this.extent = this.rows;
      this.io.resize(this.path, this.rows, []);
    }
  }
}

/** How a channel's values are written, derived once per channel config. */
interface ChannelLayout {
  /** Equal keys: the same dataset can take the values. */
  readonly key: string;
  readonly type: BsreadType;
  readonly rowShape: readonly number[];
  /** Bytes a numeric value must have. */
  readonly rowBytes: number;
  /** False when the config cannot be written (unknown type, bad shape, too large): values refused. */
  readonly valid: boolean;
}

interface DataVersion {
  readonly index: number;
  readonly layout: ChannelLayout;
  /** Absolute path in the staging group. */
  readonly path: string;
  /** Numeric versions. */
  readonly column: RowColumn | undefined;
  /** String versions: one string per row ('' where missing), written at the end. */
  readonly strings: string[] | undefined;
}

interface ChannelState {
  readonly name: string;
  /** `/staging/<escaped name>` */
  readonly group: string;
  readonly pulseId: PulseIdColumn;
  readonly present: RowColumn;
  readonly versions: DataVersion[];
  current: DataVersion | undefined;
  /** The layout declared last, for a channel that never had a value. */
  declared: ChannelLayout | undefined;
  /** Rows appended (all of this channel's datasets have this many). */
  rows: number;
}

interface Plan {
  /** Per channel of the data header: its state and layout, or undefined (duplicate name, refused). */
  readonly entries: readonly ({ readonly state: ChannelState; readonly layout: ChannelLayout } | undefined)[];
}

const layoutOf = (config: BsreadChannelConfig): ChannelLayout => {
  const type = config.type;
  const shape: unknown = config.shape;
  const key = `${String(type)}:${Array.isArray(shape) ? shape.join(',') : String(shape)}`;
  const shapeOk =
    Array.isArray(shape) && shape.length > 0 && shape.every((d: unknown) => typeof d === 'number' && Number.isSafeInteger(d) && d > 0);
  if (!(bsreadTypes as readonly string[]).includes(type) || !shapeOk) {
    return { key, type, rowShape: [], rowBytes: 0, valid: false };
  }
  const rowBytes = type === 'string' ? 0 : dataRowBytes(config);
  return { key, type, rowShape: dataRowShape(config), rowBytes, valid: rowBytes <= MAX_ROW_BYTES };
};

/** A fallback layout for a channel that never declared a writable one. */
const float64Scalar: ChannelLayout = { key: 'float64:1', type: 'float64', rowShape: [1], rowBytes: 8, valid: true };

const requirePositiveInteger = (name: string, value: unknown): number => {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new ValidationError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
};

const checkGeneral = (general: SwissfelGeneral): Array<[string, string]> => {
  const known = new Set<string>(swissfelGeneralFields);
  for (const field of Object.keys(general)) {
    if (!known.has(field)) throw new ValidationError(`general.${field} is not one of ${swissfelGeneralFields.join(', ')}`);
  }
  return swissfelGeneralFields.map((field) => {
    const value: unknown = general[field] ?? GENERAL_NOT_GIVEN;
    if (typeof value !== 'string') throw new ValidationError(`general.${field} must be a string`);
    return [field, value];
  });
};

type WriterState = 'open' | 'finished' | 'aborted' | 'failed';

/**
 * Where the file of `outputFile` is finished, and its draft: its folder, with '..' and symlinks
 * followed, must lie inside `dataRoot`. With `create` the root and the folder are made; without,
 * nothing is (a folder outside the root is refused either way).
 */
const placeOf = async (
  options: Pick<OpenSwissfelFileOptions, 'dataRoot' | 'outputFile'>,
  create: boolean,
): Promise<{ finalPath: string; draftPath: string }> => {
  if (typeof options.dataRoot !== 'string' || options.dataRoot.length === 0) throw new ValidationError('dataRoot must be a non-empty path');
  if (typeof options.outputFile !== 'string' || options.outputFile.length === 0 || /[/\\]$/.test(options.outputFile)) {
    throw new ValidationError(`outputFile must be the path of a file, got ${JSON.stringify(options.outputFile)}`);
  }
  const rootAbsolute = resolve(options.dataRoot);
  if (create) await mkdir(rootAbsolute, { recursive: true });
  const rootReal = await realpath(rootAbsolute);
  const wanted = resolve(rootReal, options.outputFile);
  const name = basename(wanted);
  if (name === '' || name === '.' || name === '..') throw new ValidationError(`outputFile ${JSON.stringify(options.outputFile)} names no file`);
  const outDir = await (create ? resolveDirInsideRoot : checkDirInsideRoot)(rootReal, dirname(wanted), 'outputFile');
  return { finalPath: join(outDir, name), draftPath: join(outDir, swissfelDraftName(name)) };
};

/** The path `openSwissfelFile` gives the finished file of `outputFile`, creating nothing. */
export const swissfelFinalPath = async (options: Pick<OpenSwissfelFileOptions, 'dataRoot' | 'outputFile'>): Promise<string> =>
  (await placeOf(options, false)).finalPath;

/**
 * Opens the draft of a writer acquisition's file. Refuses (`VALIDATION_FAILED`) an `outputFile`
 * whose folder does not resolve inside `dataRoot` ('..' and symlinks followed), a file that already
 * exists there (unless `overwrite`), and bad options. An old draft of the same name (a crashed
 * earlier try) is truncated.
 */
export const openSwissfelFile = async (options: OpenSwissfelFileOptions): Promise<SwissfelFileWriter> => {
  const chunkRowsOption = options.chunkRows === undefined ? undefined : requirePositiveInteger('chunkRows', options.chunkRows);
  const maxGap = options.maxGapPulses === undefined ? DEFAULT_MAX_GAP : requirePositiveInteger('maxGapPulses', options.maxGapPulses);
  const releaseEvery = options.releasePageCacheEveryBytes ?? DEFAULT_RELEASE_EVERY;
  if (typeof releaseEvery !== 'number' || !Number.isSafeInteger(releaseEvery) || releaseEvery < 0) {
    throw new ValidationError(`releasePageCacheEveryBytes must be a non-negative integer, got ${String(releaseEvery)}`);
  }
  const general = checkGeneral(options.general ?? {});
  const { finalPath, draftPath } = await placeOf(options, true);
  if (options.overwrite !== true) {
    const existing = await stat(finalPath).then(
      () => true,
      (e: unknown) => (errnoOf(e) === 'ENOENT' ? false : Promise.reject(e)),
    );
    if (existing) throw new ValidationError(`outputFile ${finalPath} already exists; refusing to replace it`, [{ path: ['outputFile'], message: 'exists' }]);
  }

  const h5wasm = await loadH5wasm();
  const module = await h5wasm.ready;
  watchH5Writes(module.FS);
  forgetH5WriteFailure(draftPath);
  const file = new h5wasm.File(draftPath, 'w');
  const io = new H5Io(h5wasm, module, file, draftPath);
  const queue = new WriteQueue();
  const pageCache = createPageCacheRelease(draftPath, releaseEvery);
  try {
    file.create_attribute(swissfelAttrs.layout, SWISSFEL_LAYOUT_VERSION);
    if (options.acquisitionId !== undefined) file.create_attribute(swissfelAttrs.acquisition, options.acquisitionId);
    const generalGroup = file.create_group(swissfelGroups.general);
    for (const [field, value] of general) {
      generalGroup.create_dataset({ name: field, data: value, shape: [], dtype: generalStringDtype(value) });
    }
    file.create_group(swissfelGroups.staging);
    io.checkWrites();
  } catch (e) {
    io.release();
    file.close();
    throw new DaqflowError('INTERNAL', `could not start ${draftPath}: ${String(e)}`, { draftPath }, { cause: e });
  }

  let state: WriterState = 'open';
  let rows = 0;
  let firstPulseId: number | null = null;
  let lastPulseId: number | null = null;
  let pulsesWithMessage = 0;
  let pulsesMissing = 0;
  let valuesPresent = 0;
  let valuesRefused = 0;
  let typeChanges = 0;
  let valueBytes = 0;
  let stringBytesHeld = 0;
  const channels = new Map<string, ChannelState>(); // by escaped name
  const plans = new WeakMap<readonly BsreadChannelConfig[], Plan>();
  const utf8 = new TextDecoder('utf-8');

  /** The int64 pulse ids of rows [startRow, startRow + count), shared by every channel's pulse_id. */
  let pulseCache: { startRow: number; count: number; bytes: Uint8Array } | undefined;
  const pulseIdBytes = (startRow: number, count: number): Uint8Array => {
    if (pulseCache?.startRow === startRow && pulseCache.count === count) return pulseCache.bytes;
    const words = new Uint32Array(count * 2);
    const first = (firstPulseId ?? 0) + startRow;
    for (let i = 0; i < count; i++) {
      const id = first + i;
      words[2 * i] = id % TWO_32;
      words[2 * i + 1] = Math.floor(id / TWO_32);
    }
    const bytes = new Uint8Array(words.buffer);
    pulseCache = { startRow, count, bytes };
    return bytes;
  };

  const chunkRowsFor = (rowBytes: number): number =>
    chunkRowsOption === undefined
      ? defaultChunkRows(rowBytes)
      : Math.max(1, Math.min(chunkRowsOption, Math.floor(MAX_CHUNK_BYTES / Math.max(1, rowBytes))));

  const startVersion = (channel: ChannelState, layout: ChannelLayout): DataVersion => {
    const index = channel.versions.length;
    const path = `${channel.group}/${stagedDataName(index)}`;
    let column: RowColumn | undefined;
    let strings: string[] | undefined;
    if (layout.type === 'string') {
      strings = new Array<string>(channel.rows).fill('');
    } else {
      const chunkRows = chunkRowsFor(layout.rowBytes);
      io.createChunked(path, h5DtypeOf(layout.type), layout.rowShape, chunkRows);
      column = new RowColumn(io, path, layout.rowShape, layout.rowBytes, chunkRows, queue);
      column.skip(channel.rows);
    }
    const version: DataVersion = { index, layout, path, column, strings };
    if (channel.current !== undefined) {
      channel.current.column?.close(); // keeps the rows up to the change, as sf_bsread_writer's data(k)
      typeChanges++;
    }
    channel.versions.push(version);
    channel.current = version;
    return version;
  };

  const createChannel = (name: string, key: string): ChannelState => {
    const group = `/${swissfelGroups.staging}/${key}`;
    const groupObject = file.get(`/${swissfelGroups.staging}`);
    if (!(groupObject instanceof h5wasm.Group)) throw new Error('the staging group is missing');
    groupObject.create_group(key);
    const pulsePath = `${group}/${swissfelDatasets.pulseId}`;
    const presentPath = `${group}/${swissfelDatasets.isDataPresent}`;
    const pulseChunk = chunkRowsFor(8);
    const presentChunk = chunkRowsFor(1);
    io.createChunked(pulsePath, PULSE_ID_DTYPE, [], pulseChunk);
    io.createChunked(presentPath, IS_DATA_PRESENT_DTYPE, [], presentChunk);
    const channel: ChannelState = {
      name,
      group,
      pulseId: new PulseIdColumn(io, pulsePath, pulseChunk, pulseIdBytes, queue),
      present: new RowColumn(io, presentPath, [], 1, presentChunk, queue),
      versions: [],
      current: undefined,
      declared: undefined,
      rows: 0,
    };
    appendMissing(channel, rows); // the pulses before this channel appeared
    channels.set(key, channel);
    return channel;
  };

  const planFor = (configs: readonly BsreadChannelConfig[]): Plan => {
    const known = plans.get(configs);
    if (known !== undefined) return known;
    const seen = new Set<string>();
    const entries = configs.map((config) => {
      const name = typeof config.name === 'string' ? config.name : '';
      if (name.length === 0) return undefined;
      const key = escapeChannelName(name);
      if (seen.has(key)) return undefined; // a second channel of the same name: its values are refused
      seen.add(key);
      const state = channels.get(key) ?? createChannel(name, key);
      return { state, layout: layoutOf(config) };
    });
    const plan: Plan = { entries };
    plans.set(configs, plan);
    return plan;
  };

  /** Appends `n` rows where the channel has no value. */
  function appendMissing(channel: ChannelState, n: number): void {
    if (n <= 0) return;
    channel.pulseId.advance(n);
    channel.present.skip(n);
    const current = channel.current;
    if (current?.column !== undefined) current.column.skip(n);
    else if (current?.strings !== undefined) for (let i = 0; i < n; i++) current.strings.push('');
    channel.rows += n;
  }

  const appendValue = (channel: ChannelState, layout: ChannelLayout, bytes: Uint8Array | null): void => {
    const usable =
      bytes !== null && layout.valid && (layout.type === 'string' || (bytes instanceof Uint8Array && bytes.byteLength === layout.rowBytes));
    if (!usable) {
      if (bytes !== null) valuesRefused++;
      if (layout.valid) channel.declared = layout;
      appendMissing(channel, 1);
      return;
    }
    const version = channel.current?.layout.key === layout.key ? channel.current : startVersion(channel, layout);
    channel.pulseId.advance(1);
    if (version.strings !== undefined) {
      const text = utf8.decode(bytes);
      version.strings.push(text);
      stringBytesHeld += bytes.byteLength;
    } else {
      version.column?.appendRow(bytes);
    }
    channel.present.appendByte(1);
    channel.rows++;
    valuesPresent++;
    valueBytes += bytes.byteLength;
  };

  const fail = (e: unknown, what: string): never => {
    state = 'failed';
    closeQuietly();
    const errno = errnoOf(e);
    throw new DaqflowError('INTERNAL', `could not ${what} ${draftPath}: ${String(e)}`, { draftPath, ...(errno === undefined ? {} : { errno }) }, { cause: e });
  };

  function closeQuietly(): void {
    io.release();
    try {
      file.close();
    } catch {
      // already closed or broken: the draft is what it is
    }
    forgetH5WriteFailure(draftPath);
  }

  const requireOpen = (op: string): void => {
    if (state !== 'open') throw new DaqflowError('INTERNAL', `cannot ${op}: the file ${draftPath} is ${state}`, { draftPath, state });
  };

  const writePulse = (pulseId: number, message: BsreadMessage | null): void => {
    requireOpen('write a pulse');
    if (typeof pulseId !== 'number' || !Number.isSafeInteger(pulseId) || pulseId < 0) {
      throw new ValidationError(`pulse id must be a non-negative safe integer, got ${String(pulseId)}`);
    }
    if (lastPulseId !== null && pulseId <= lastPulseId) {
      throw new ValidationError(`pulse ${pulseId} does not follow the last pulse written (${lastPulseId}); pulses must increase`);
    }
    const gap = lastPulseId === null ? 0 : pulseId - lastPulseId - 1;
    if (gap > maxGap) {
      throw new ValidationError(`pulse ${pulseId} is ${gap} pulses after the last one written (${lastPulseId}); at most ${maxGap} missing pulses are written`);
    }
    if (message !== null && message.pulseId !== pulseId) {
      throw new ValidationError(`the message of pulse ${pulseId} carries pulse id ${message.pulseId}`);
    }
    const bytesBefore = valueBytes;
    try {
      if (firstPulseId === null) firstPulseId = pulseId;
      if (gap > 0) {
        for (const channel of channels.values()) appendMissing(channel, gap);
        rows += gap;
        pulsesMissing += gap;
      }
      if (message === null) {
        pulsesMissing++;
      } else {
        pulsesWithMessage++;
        const plan = planFor(message.channels);
        for (let i = 0; i < plan.entries.length; i++) {
          const entry = plan.entries[i];
          if (entry === undefined) continue;
          appendValue(entry.state, entry.layout, message.values.bytes(i));
        }
      }
      rows++;
      for (const channel of channels.values()) if (channel.rows < rows) appendMissing(channel, rows - channel.rows);
      lastPulseId = pulseId;
      queue.drain(WRITES_PER_PULSE);
      io.checkWrites();
      pageCache.written(valueBytes - bytesBefore);
    } catch (e) {
      fail(e, `write pulse ${pulseId} to`);
    }
  };

  /** Writes every buffered row, trims, writes the string datasets and links `/data`. */
  const complete = (): void => {
    queue.drainAll();
    let changed = false;
    for (const channel of channels.values()) {
      channel.pulseId.close();
      channel.present.close();
      if (channel.versions.length === 0) startVersion(channel, channel.declared ?? float64Scalar);
      channel.current?.column?.close();
      for (const version of channel.versions) {
        if (version.strings !== undefined) io.createStrings(version.path, version.strings);
      }
      if (channel.versions.length > 1) changed = true;
    }
    const data = `/${swissfelGroups.data}`;
    if (!changed) {
      io.hardLink(`/${swissfelGroups.staging}`, data);
      return;
    }
    file.create_group(swissfelGroups.data);
    const dataGroup = file.get(data);
    if (!(dataGroup instanceof h5wasm.Group)) throw new Error(`${data} is not a group`);
    for (const [key, channel] of channels) {
      const target = `${data}/${key}`;
      if (channel.versions.length === 1) {
        io.hardLink(channel.group, target);
        continue;
      }
      dataGroup.create_group(key);
      io.hardLink(`${channel.group}/${swissfelDatasets.pulseId}`, `${target}/${swissfelDatasets.pulseId}`);
      io.hardLink(`${channel.group}/${swissfelDatasets.isDataPresent}`, `${target}/${swissfelDatasets.isDataPresent}`);
      const names = finalDataNames(channel.versions.length);
      channel.versions.forEach((version, i) => io.hardLink(version.path, `${target}/${names[i] ?? ''}`));
    }
  };

  const stats = (): SwissfelFileStats => ({
    firstPulseId,
    lastPulseId,
    rows,
    pulsesWithMessage,
    pulsesMissing,
    channels: channels.size,
    valuesPresent,
    valuesRefused,
    typeChanges,
    valueBytes,
    stringBytesHeld,
  });

  const finish = async (): Promise<SwissfelFileResult> => {
    requireOpen('finish');
    try {
      complete();
      if (options.acquisitionId !== undefined) file.create_attribute(swissfelAttrs.summary, JSON.stringify(stats()));
      io.release();
      file.flush();
      file.close();
      // The last metadata goes out at the close; a refused write leaves a draft that must not be published.
      io.checkWrites();
      forgetH5WriteFailure(draftPath);
      state = 'finished'; // closed: from here on only the draft on disk is concerned
      await pageCache.settle();
      await fsyncFile(draftPath);
      const bytes = (await stat(draftPath)).size;
      await publishDraft(draftPath, finalPath);
      return { path: finalPath, bytes, stats: stats(), pageCache: pageCache.counters() };
    } catch (e) {
      state = 'failed';
      closeQuietly();
      throw new DaqflowError('INTERNAL', `could not finish ${finalPath} (${draftWhereabouts(draftPath)}): ${String(e)}`, { draftPath, finalPath }, {
        cause: e,
      });
    }
  };

  const abort = async (): Promise<{ draftPath: string }> => {
    if (state === 'open') {
      try {
        complete(); // best effort: a readable draft in the final layout
      } catch {
        // the draft keeps what reached it
      }
      closeQuietly();
      state = 'aborted';
    } else if (state === 'failed') {
      closeQuietly();
      state = 'aborted';
    } else if (state === 'finished') {
      throw new DaqflowError('INTERNAL', `cannot abort: ${finalPath} is already finished`, { finalPath });
    }
    await pageCache.settle();
    return { draftPath };
  };

  return { draftPath, finalPath, writePulse, finish, abort, stats };
};
