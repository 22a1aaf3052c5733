import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import h5wasm from 'h5wasm/node';
import type { Dataset, File as H5File } from 'h5wasm/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDaqflowError } from '../../events/errors.js';
import type { BsreadChannelConfig, BsreadMessage, BsreadType } from '../bsread/bsreadMessage.js';
import { dataRowShape, defaultChunkRows, finalDataNames, h5DtypeOf, swissfelDraftName } from './swissfelLayout.js';
import { openSwissfelFile, type OpenSwissfelFileOptions } from './swissfelWriter.js';
import { BsreadValues } from '../bsread/bsreadValues.js';

const scratch = mkdtempSync(join(tmpdir(), 'daqflow-swissfel-'));
let n = 0;
const freshRoot = (): string => {
  const root = join(scratch, `root${++n}`);
  mkdirSync(root);
  return root;
};

beforeAll(async () => {
  await h5wasm.ready;
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

const ch = (name: string, type: BsreadType, shape: number[] = [1]): BsreadChannelConfig => ({
  name,
  type,
  shape,
  encoding: 'little',
  compression: 'none',
  modulo: 1,
  offset: 0,
});

const bytesOf = (view: ArrayBufferView): Uint8Array => new Uint8Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));

const message = (pulseId: number, channels: readonly BsreadChannelConfig[], values: (Uint8Array | null)[]): BsreadMessage => ({
  pulseId,
  globalTimestamp: { sec: 1_700_000_000 + pulseId, ns: 0 },
  hash: channels.map((c) => `${c.name}:${c.type}:${c.shape.join(',')}`).join('|'),
  channels,
  values: BsreadValues.from(values.map((bytes) => ({ bytes, timestamp: null }))),
  wireBytes: values.reduce((a, v) => a + (v?.byteLength ?? 0), 0),
});

// ---------------------------------------------------------------------------------------------
// The synthetic stream: pulses 1000..1029; 1005 and 1006 never come (a jump), 1010 is written
// as missing (null); some values are missing; the header changes at 1015 (CHG int16 → float64[2],
// LATE appears) and at 1025 (I8 disappears). IMG's value at 1003 is truncated (refused).
// ---------------------------------------------------------------------------------------------

const FIRST = 1000;
const LAST = 1029;
const ROWS = LAST - FIRST + 1;
const skipped = new Set([1005, 1006]);
const nullPulse = 1010;

const F64 = ch('SAR:F64', 'float64');
const I32 = ch('SAR:I32', 'int32');
const U64 = ch('SAR:U64', 'uint64');
const BOOL = ch('SAR:BOOL', 'bool');
const I8 = ch('SAR:I8', 'int8');
const WF = ch('SAR:WF', 'float32', [5]);
const IMG = ch('SAR:IMG', 'uint16', [4, 3]); // wire shape: 4 columns (fastest), 3 rows → HDF5 (3, 4)
const STR = ch('SAR:STR', 'string');
const CHG_A = ch('SAR:CHG', 'int16');
const CHG_B = ch('SAR:CHG', 'float64', [2]);
const LATE = ch('SAR:LATE', 'uint8', [2]);

const headerA = [F64, I32, U64, BOOL, I8, WF, IMG, STR, CHG_A];
const headerB = [F64, I32, U64, BOOL, I8, WF, IMG, STR, CHG_B, LATE];
const headerC = [F64, I32, U64, BOOL, WF, IMG, STR, CHG_B, LATE];
const headerAt = (p: number): BsreadChannelConfig[] => (p < 1015 ? headerA : p < 1025 ? headerB : headerC);

const valueOf = (c: BsreadChannelConfig, p: number): Uint8Array => {
  switch (c) {
    case F64:
      return bytesOf(Float64Array.of(p + 0.5));
    case I32:
      return bytesOf(Int32Array.of(-p));
    case U64:
      return bytesOf(BigUint64Array.of(2n ** 63n + BigInt(p)));
    case BOOL:
      return Uint8Array.of(p % 2);
    case I8:
      return bytesOf(Int8Array.of(-(p % 100)));
    case WF:
      return bytesOf(Float32Array.from({ length: 5 }, (_, k) => p * 10 + k));
    case IMG:
      return bytesOf(Uint16Array.from({ length: 12 }, (_, k) => p + k * 1000));
    case STR:
      return new TextEncoder().encode(`pulse ${p} ✓`);
    case CHG_A:
      return bytesOf(Int16Array.of(p - 1000));
    case CHG_B:
      return bytesOf(Float64Array.of(p, -p));
    case LATE:
      return Uint8Array.of(p % 256, (p + 1) % 256);
    default:
      throw new Error(`no value for ${c.name}`);
  }
};

const isMissing = (c: BsreadChannelConfig, p: number): boolean => (p * 7 + c.name.length) % 5 === 0;

/** What the stream sends at pulse p for channel c: bytes, null (missing), or undefined (not in the header/pulse). */
const sent = (c: BsreadChannelConfig, p: number): Uint8Array | null | undefined => {
  if (skipped.has(p) || p === nullPulse) return undefined;
  if (!headerAt(p).includes(c)) return undefined;
  if (isMissing(c, p)) return null;
  if (c === IMG && p === 1003) return valueOf(c, p).subarray(0, 10); // truncated
  return valueOf(c, p);
};

const writeStream = async (options: OpenSwissfelFileOptions) => {
  const writer = await openSwissfelFile(options);
  for (let p = FIRST; p <= LAST; p++) {
    if (skipped.has(p)) continue;
    if (p === nullPulse) {
      writer.writePulse(p, null);
      continue;
    }
    const header = headerAt(p);
    writer.writePulse(
      p,
      message(
        p,
        header,
        header.map((c) => sent(c, p) ?? null),
      ),
    );
  }
  return writer;
};

const dataset = (file: H5File, path: string): Dataset => {
  const d = file.get(path);
  if (!(d instanceof h5wasm.Dataset)) throw new Error(`${path} is not a dataset`);
  return d;
};

const rawBytes = (file: H5File, path: string): Uint8Array => {
  const v = dataset(file, path).value;
  if (!ArrayBuffer.isView(v)) throw new Error(`${path} is not numeric`);
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
};

const withFile = <T>(path: string, f: (file: H5File) => T): T => {
  const file = new h5wasm.File(path, 'r');
  try {
    return f(file);
  } finally {
    file.close();
  }
};

/** Checks pulse_id and is_data_present of a channel against what was sent (present = usable value). */
const checkRowsMeta = (file: H5File, group: string, present: (p: number) => boolean): void => {
  const pulse = dataset(file, `${group}/pulse_id`);
  expect(pulse.dtype).toBe('<q');
  expect(pulse.shape).toEqual([ROWS]);
  expect(Array.from(pulse.value as BigInt64Array)).toEqual(Array.from({ length: ROWS }, (_, r) => BigInt(FIRST + r)));
  const flags = dataset(file, `${group}/is_data_present`);
  expect(flags.dtype).toBe('<B');
  expect(flags.shape).toEqual([ROWS]);
  expect(Array.from(flags.value as Uint8Array)).toEqual(Array.from({ length: ROWS }, (_, r) => (present(FIRST + r) ? 1 : 0)));
};

/** Checks every row of a numeric `data` dataset: the value sent where present, zeros elsewhere. */
const checkNumeric = (
  file: H5File,
  path: string,
  dtype: string,
  shape: number[],
  rowBytes: number,
  expected: (p: number) => Uint8Array | undefined,
): void => {
  const d = dataset(file, path);
  expect(d.dtype, path).toBe(dtype);
  expect(d.shape, path).toEqual(shape);
  const raw = rawBytes(file, path);
  const rows = shape[0] ?? 0;
  for (let r = 0; r < rows; r++) {
    const want = expected(FIRST + r) ?? new Uint8Array(rowBytes);
    expect(Array.from(raw.subarray(r * rowBytes, (r + 1) * rowBytes)), `${path} row ${r} (pulse ${FIRST + r})`).toEqual(Array.from(want));
  }
};

const usable = (c: BsreadChannelConfig, p: number): Uint8Array | undefined => {
  const v = sent(c, p);
  if (v === null || v === undefined) return undefined;
  if (c === IMG && p === 1003) return undefined;
  return v;
};

describe('openSwissfelFile: a synthetic stream read back row by row', () => {
  it.each([
    ['default chunks', undefined],
    ['4-row chunks', 4],
    ['1-row chunks', 1],
  ])('writes every row, type, shape and gap (%s)', async (_label, chunkRows) => {
    const root = freshRoot();
    const writer = await writeStream({
      outputFile: 'p12345/raw/run_0001.BSDATA.h5',
      dataRoot: root,
      general: { created: '2024-03-15T01:00:00Z', instrument: 'Alvra', user: 'p12345' },
      ...(chunkRows === undefined ? {} : { chunkRows }),
    });
    expect(writer.stats()).toMatchObject({
      firstPulseId: FIRST,
      lastPulseId: LAST,
      rows: ROWS,
      pulsesWithMessage: ROWS - 3,
      pulsesMissing: 3,
      channels: 10,
      typeChanges: 1,
      valuesRefused: 1,
    });
    const result = await writer.finish();
    expect(result.path).toBe(join(root, 'p12345/raw/run_0001.BSDATA.h5'));
    expect(readdirSync(join(root, 'p12345/raw'))).toEqual(['run_0001.BSDATA.h5']);

    withFile(result.path, (file) => {
      expect(file.attrs['layout']?.value).toBe('daqflow-swissfel/1');
      expect(dataset(file, '/general/created').value).toBe('2024-03-15T01:00:00Z');
      expect(dataset(file, '/general/instrument').value).toBe('Alvra');
      expect(dataset(file, '/general/user').value).toBe('p12345');
      expect(dataset(file, '/general/process').value).toBe('not given');
      expect(dataset(file, '/general/process').shape).toEqual([]);
      const dataGroup = file.get('/data');
      if (!(dataGroup instanceof h5wasm.Group)) throw new Error('/data missing');
      expect(dataGroup.keys().sort()).toEqual(
        ['SAR:BOOL', 'SAR:CHG', 'SAR:F64', 'SAR:I32', 'SAR:I8', 'SAR:IMG', 'SAR:LATE', 'SAR:STR', 'SAR:U64', 'SAR:WF'].sort(),
      );

      const numeric: Array<[BsreadChannelConfig, string, number[], number]> = [
        [F64, '<d', [ROWS, 1], 8],
        [I32, '<i', [ROWS, 1], 4],
        [U64, '<Q', [ROWS, 1], 8],
        [BOOL, '<B', [ROWS, 1], 1],
        [I8, '<b', [ROWS, 1], 1],
        [WF, '<f', [ROWS, 5], 20],
        [IMG, '<H', [ROWS, 3, 4], 24],
        [LATE, '<B', [ROWS, 2], 2],
      ];
      for (const [c, dtype, shape, rowBytes] of numeric) {
        const group = `/data/${c.name}`;
        expect(file.get(group) instanceof h5wasm.Group).toBe(true);
        expect((file.get(group) as unknown as { keys(): string[] }).keys().sort()).toEqual(['data', 'is_data_present', 'pulse_id']);
        checkRowsMeta(file, group, (p) => usable(c, p) !== undefined);
        checkNumeric(file, `${group}/data`, dtype, shape, rowBytes, (p) => usable(c, p));
      }
      // uint64 beyond 2^53 comes back exactly
      const u64 = dataset(file, `/data/${U64.name}/data`).value as BigUint64Array;
      expect(u64[1]).toBe(2n ** 63n + 1001n);
      // the late channel has real pulse ids for the rows before it appeared
      expect(Array.from((dataset(file, `/data/${LATE.name}/is_data_present`).value as Uint8Array).subarray(0, 15))).toEqual(
        new Array<number>(15).fill(0),
      );

      // strings: variable-length UTF-8, shape (N,), '' where missing
      const str = dataset(file, `/data/${STR.name}/data`);
      expect(str.dtype).toBe('S');
      expect(str.metadata.vlen).toBe(true);
      expect(str.metadata.cset).toBe(1);
      expect(str.shape).toEqual([ROWS]);
      expect(str.value).toEqual(Array.from({ length: ROWS }, (_, r) => (usable(STR, FIRST + r) ? `pulse ${FIRST + r} ✓` : '')));
      checkRowsMeta(file, `/data/${STR.name}`, (p) => usable(STR, p) !== undefined);

      // the type change: data(1) int16 up to the change, data float64[2] over all rows
      const chg = `/data/${CHG_A.name}`;
      expect((file.get(chg) as unknown as { keys(): string[] }).keys().sort()).toEqual(['data', 'data(1)', 'is_data_present', 'pulse_id']);
      checkRowsMeta(file, chg, (p) => usable(p < 1015 ? CHG_A : CHG_B, p) !== undefined);
      checkNumeric(file, `${chg}/data(1)`, '<h', [15, 1], 2, (p) => usable(CHG_A, p));
      checkNumeric(file, `${chg}/data`, '<d', [ROWS, 2], 16, (p) => (p < 1015 ? undefined : usable(CHG_B, p)));

      if (chunkRows !== undefined) {
        expect(dataset(file, `/data/${IMG.name}/data`).metadata.chunks).toEqual([chunkRows, 3, 4]);
        expect(dataset(file, `/data/${F64.name}/is_data_present`).metadata.chunks).toEqual([chunkRows]);
      } else {
        expect(dataset(file, `/data/${F64.name}/data`).metadata.chunks).toEqual([1000, 1]);
        expect(dataset(file, `/data/${WF.name}/data`).metadata.chunks).toEqual([1000, 5]);
      }
    });
  });

  it('links /data to the staging group when no channel changed type, and creates a data dataset for a channel that never had a value', async () => {
    const root = freshRoot();
    const a = ch('A', 'float64');
    const never = ch('NEVER', 'int32', [3]);
    const writer = await openSwissfelFile({ outputFile: 'a.h5', dataRoot: root, chunkRows: 2 });
    for (let p = 7; p < 12; p++) writer.writePulse(p, message(p, [a, never], [bytesOf(Float64Array.of(p)), null]));
    const { path, stats } = await writer.finish();
    expect(stats).toMatchObject({ rows: 5, valuesPresent: 5, typeChanges: 0 });
    withFile(path, (file) => {
      expect(Array.from(dataset(file, '/data/A/data').value as Float64Array)).toEqual([7, 8, 9, 10, 11]);
      const nv = dataset(file, '/data/NEVER/data');
      expect([nv.dtype, nv.shape]).toEqual(['<i', [5, 3]]);
      expect(Array.from(nv.value as Int32Array)).toEqual(new Array<number>(15).fill(0));
      expect(Array.from(dataset(file, '/data/NEVER/is_data_present').value as Uint8Array)).toEqual([0, 0, 0, 0, 0]);
      expect(Array.from(dataset(file, '/data/NEVER/pulse_id').value as BigInt64Array)).toEqual([7n, 8n, 9n, 10n, 11n]);
    });
  });

  it('does not start a new version when the declared type changes while values are missing', async () => {
    // bsread's Python sender declares a None value as float64: that must not supersede the real type
    const root = freshRoot();
    const asInt = ch('X', 'int64');
    const asNone = ch('X', 'float64');
    const writer = await openSwissfelFile({ outputFile: 'x.h5', dataRoot: root });
    writer.writePulse(1, message(1, [asNone], [null]));
    writer.writePulse(2, message(2, [asInt], [bytesOf(BigInt64Array.of(-5n))]));
    writer.writePulse(3, message(3, [asNone], [null]));
    writer.writePulse(4, message(4, [asInt], [bytesOf(BigInt64Array.of(6n))]));
    const { path, stats } = await writer.finish();
    expect(stats.typeChanges).toBe(0);
    withFile(path, (file) => {
      expect(dataset(file, '/data/X/data').dtype).toBe('<q');
      expect(Array.from(dataset(file, '/data/X/data').value as BigInt64Array)).toEqual([0n, -5n, 0n, 6n]);
      expect(Array.from(dataset(file, '/data/X/is_data_present').value as Uint8Array)).toEqual([0, 1, 0, 1]);
      expect((file.get('/data/X') as unknown as { keys(): string[] }).keys().sort()).toEqual(['data', 'is_data_present', 'pulse_id']);
    });
  });

  it('names three versions data(1), data(2) and data, including a string version', async () => {
    const root = freshRoot();
    const v1 = ch('V', 'uint8');
    const v2 = ch('V', 'string');
    const v3 = ch('V', 'uint8', [2]);
    const writer = await openSwissfelFile({ outputFile: 'v.h5', dataRoot: root });
    writer.writePulse(0, message(0, [v1], [Uint8Array.of(9)]));
    writer.writePulse(1, message(1, [v2], [new TextEncoder().encode('hello')]));
    writer.writePulse(2, message(2, [v2], [null]));
    writer.writePulse(3, message(3, [v3], [Uint8Array.of(1, 2)]));
    const { path, stats } = await writer.finish();
    expect(stats.typeChanges).toBe(2);
    withFile(path, (file) => {
      expect(Array.from(dataset(file, '/data/V/data(1)').value as Uint8Array)).toEqual([9]);
      expect(dataset(file, '/data/V/data(2)').value).toEqual(['', 'hello', '']);
      expect(dataset(file, '/data/V/data').shape).toEqual([4, 2]);
      expect(Array.from(dataset(file, '/data/V/data').value as Uint8Array)).toEqual([0, 0, 0, 0, 0, 0, 1, 2]);
      expect(Array.from(dataset(file, '/data/V/is_data_present').value as Uint8Array)).toEqual([1, 1, 0, 1]);
    });
  });

  it('writes big images through full-chunk writes and leaves missing images unwritten', async () => {
    const root = freshRoot();
    const img = ch('CAM:FPICTURE', 'uint16', [1280, 1024]);
    const rowBytes = 1024 * 1280 * 2;
    const frame = (p: number): Uint8Array => bytesOf(Uint16Array.from({ length: 1024 * 1280 }, (_, k) => (p * 31 + k) & 0xffff));
    const writer = await openSwissfelFile({ outputFile: 'cam.h5', dataRoot: root });
    writer.writePulse(100, message(100, [img], [frame(100)]));
    writer.writePulse(103, message(103, [img], [frame(103)])); // 101, 102 missing
    const { path, bytes } = await writer.finish();
    expect(bytes).toBeLessThan(rowBytes * 2 + 200_000); // the missing images take no space
    withFile(path, (file) => {
      const d = dataset(file, '/data/CAM:FPICTURE/data');
      expect([d.dtype, d.shape, d.metadata.chunks]).toEqual(['<H', [4, 1024, 1280], [1, 1024, 1280]]);
      const raw = rawBytes(file, '/data/CAM:FPICTURE/data');
      expect(Buffer.compare(raw.subarray(0, rowBytes), frame(100))).toBe(0);
      expect(raw.subarray(rowBytes, 3 * rowBytes).every((b) => b === 0)).toBe(true);
      expect(Buffer.compare(raw.subarray(3 * rowBytes), frame(103))).toBe(0);
      expect(Array.from(dataset(file, '/data/CAM:FPICTURE/pulse_id').value as BigInt64Array)).toEqual([100n, 101n, 102n, 103n]);
    });
  });

  it('escapes a "/" in a channel name', async () => {
    const root = freshRoot();
    const writer = await openSwissfelFile({ outputFile: 'e.h5', dataRoot: root });
    writer.writePulse(1, message(1, [ch('a/b', 'int8')], [Uint8Array.of(3)]));
    const { path } = await writer.finish();
    withFile(path, (file) => expect(Array.from(dataset(file, '/data/a%2Fb/data').value as Int8Array)).toEqual([3]));
  });
});

describe('openSwissfelFile: pulses out of order', () => {
  it('refuses a pulse id that does not increase, a gap too big and a mismatched message, and stays usable', async () => {
    const root = freshRoot();
    const a = ch('A', 'int32');
    const writer = await openSwissfelFile({ outputFile: 'o.h5', dataRoot: root, maxGapPulses: 10 });
    writer.writePulse(5, message(5, [a], [bytesOf(Int32Array.of(5))]));
    // 17: 11 missing pulses, more than maxGapPulses
    for (const bad of [5, 4, 17]) {
      let e: unknown;
      try {
        writer.writePulse(bad, null);
      } catch (error) {
        e = error;
      }
      expect(isDaqflowError(e) && e.code === 'VALIDATION_FAILED', `${bad}: ${String(e)}`).toBe(true);
    }
    expect(() => writer.writePulse(7, message(8, [a], [null]))).toThrow(/carries pulse id 8/);
    writer.writePulse(15, message(15, [a], [bytesOf(Int32Array.of(15))]));
    const { path } = await writer.finish();
    withFile(path, (file) => {
      expect(dataset(file, '/data/A/data').shape).toEqual([11, 1]);
      expect(Array.from(dataset(file, '/data/A/is_data_present').value as Uint8Array)).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    });
  });
});

describe('openSwissfelFile: draft, rename and the data root', () => {
  const a = ch('A', 'float64');

  it('writes under a hidden draft name beside the final file and renames it at finish', async () => {
    const root = freshRoot();
    const writer = await openSwissfelFile({ outputFile: 'out/acq.h5', dataRoot: root });
    expect(writer.draftPath).toBe(join(root, 'out', '.acq.h5.draft'));
    expect(writer.finalPath).toBe(join(root, 'out', 'acq.h5'));
    writer.writePulse(1, message(1, [a], [bytesOf(Float64Array.of(1))]));
    expect(existsSync(writer.draftPath)).toBe(true);
    expect(existsSync(writer.finalPath)).toBe(false);
    const result = await writer.finish();
    expect(readdirSync(join(root, 'out'))).toEqual(['acq.h5']);
    expect(result.bytes).toBeGreaterThan(0);
    expect(() => writer.writePulse(2, null)).toThrow(/finished/);
    await expect(writer.abort()).rejects.toThrow(/already finished/);
  });

  it('abort keeps a readable draft, names it, and publishes nothing', async () => {
    const root = freshRoot();
    const writer = await openSwissfelFile({ outputFile: 'acq.h5', dataRoot: root, chunkRows: 1000 });
    for (let p = 1; p <= 3; p++) writer.writePulse(p, message(p, [a], [bytesOf(Float64Array.of(p))]));
    const { draftPath } = await writer.abort();
    expect(draftPath).toBe(join(root, '.acq.h5.draft'));
    expect(readdirSync(root)).toEqual(['.acq.h5.draft']);
    withFile(draftPath, (file) => expect(Array.from(dataset(file, '/data/A/data').value as Float64Array)).toEqual([1, 2, 3]));
    expect((await writer.abort()).draftPath).toBe(draftPath);
    expect(() => writer.writePulse(4, null)).toThrow(/aborted/);
  });

  it('truncates an old draft of the same name', async () => {
    const root = freshRoot();
    writeFileSync(join(root, '.acq.h5.draft'), 'left over by a crash');
    const writer = await openSwissfelFile({ outputFile: 'acq.h5', dataRoot: root });
    writer.writePulse(1, null);
    const { path } = await writer.finish();
    withFile(path, (file) => expect(file.attrs['layout']?.value).toBe('daqflow-swissfel/1'));
  });

  it('refuses an output file outside the data root, by ".." or by a symlink, leaving no trace', async () => {
    const root = freshRoot();
    const outside = join(scratch, `outside${++n}`);
    mkdirSync(outside);
    symlinkSync(outside, join(root, 'link'));
    for (const outputFile of ['../x.h5', join(outside, 'x.h5'), 'link/x.h5', 'link/deeper/x.h5']) {
      const e: unknown = await openSwissfelFile({ outputFile, dataRoot: root }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(isDaqflowError(e) && e.code === 'VALIDATION_FAILED', `${outputFile}: ${String(e)}`).toBe(true);
      expect(String((e as Error).message)).toMatch(/outside the data root/);
    }
    expect(readdirSync(outside)).toEqual([]);
  });

  it('refuses an existing file unless overwrite, and bad options', async () => {
    const root = freshRoot();
    writeFileSync(join(root, 'taken.h5'), 'mine');
    const refused = async (options: OpenSwissfelFileOptions, message: RegExp): Promise<void> => {
      const e: unknown = await openSwissfelFile(options).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(isDaqflowError(e) && e.code === 'VALIDATION_FAILED', String(e)).toBe(true);
      expect(String((e as Error).message)).toMatch(message);
    };
    await refused({ outputFile: 'taken.h5', dataRoot: root }, /already exists/);
    await refused({ outputFile: 'dir/', dataRoot: root }, /path of a file/);
    await refused({ outputFile: 'a.h5', dataRoot: root, chunkRows: 0 }, /chunkRows/);
    await refused({ outputFile: 'a.h5', dataRoot: root, general: { owner: 'x' } as never }, /general.owner/);
    const writer = await openSwissfelFile({ outputFile: 'taken.h5', dataRoot: root, overwrite: true });
    writer.writePulse(1, null);
    const { path } = await writer.finish();
    withFile(path, (file) => expect(file.attrs['layout']?.value).toBe('daqflow-swissfel/1'));
  });
});

describe('swissfelLayout', () => {
  it('names versions, shapes rows, picks dtypes and chunk rows', () => {
    expect(finalDataNames(1)).toEqual(['data']);
    expect(finalDataNames(3)).toEqual(['data(1)', 'data(2)', 'data']);
    expect(dataRowShape({ type: 'float64', shape: [1] })).toEqual([1]);
    expect(dataRowShape({ type: 'uint16', shape: [1280, 1024] })).toEqual([1024, 1280]);
    expect(dataRowShape({ type: 'string', shape: [1] })).toEqual([]);
    expect([h5DtypeOf('bool'), h5DtypeOf('uint64'), h5DtypeOf('float32'), h5DtypeOf('string')]).toEqual(['<B', '<Q', '<f', 'S']);
    expect([defaultChunkRows(1024 * 1280 * 2), defaultChunkRows(8), defaultChunkRows(8_000), defaultChunkRows(1)]).toEqual([1, 1000, 131, 1000]);
    expect(swissfelDraftName('run_0001.h5')).toBe('.run_0001.h5.draft');
  });
});
