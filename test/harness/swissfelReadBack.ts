/**
 * Reads a writer acquisition's file back and checks every row of every channel against what the
 * bsread simulator sent for that pulse (its `expected`), independently of the writer's own code.
 */
import h5wasm from 'h5wasm/node';
import type { Dataset, File as H5File } from 'h5wasm/node';
import { expect } from 'vitest';
import { hdf5ShapeOf, elementSize, type BsreadChannelConfig } from '../../adapters/bsread/bsreadMessage.js';
import type { ExpectedPulse } from '../../adapters/bsread/bsreadSimulator.js';

export const withH5File = async <T>(path: string, f: (file: H5File) => T): Promise<T> => {
  await h5wasm.ready;
  const file = new h5wasm.File(path, 'r');
  try {
    return f(file);
  } finally {
    file.close();
  }
};

export const h5Dataset = (file: H5File, path: string): Dataset => {
  const d = file.get(path);
  if (!(d instanceof h5wasm.Dataset)) throw new Error(`${path} is not a dataset`);
  return d;
};

const bytesOfDataset = (d: Dataset): Uint8Array => {
  const v = d.value;
  if (!ArrayBuffer.isView(v)) throw new Error(`${d.path} is not numeric`);
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
};

const sameConfig = (a: BsreadChannelConfig, b: BsreadChannelConfig): boolean =>
  a.type === b.type && a.shape.length === b.shape.length && a.shape.every((n, i) => n === b.shape[i]);

export interface ReadBackSummary {
  readonly rows: number;
  readonly channels: string[];
  /** Values compared byte for byte. */
  readonly valuesChecked: number;
  readonly present: number;
}

/**
 * Checks `/data/<channel>/{pulse_id,is_data_present,data,data(k)}` of every channel the simulator
 * sent in [first, last] (or only `channels`), row by row: the real pulse id, the presence flag, and
 * the value bytes of every present row in the dataset version of its type.
 */
export const checkFileAgainstSimulator = async (
  path: string,
  expected: (pulseId: number) => ExpectedPulse | undefined,
  range: { first: number; last: number; channels?: readonly string[] },
): Promise<ReadBackSummary> => {
  const rows = range.last - range.first + 1;
  // Every channel seen in the range, with its configs in order of appearance (the versions).
  const versions = new Map<string, BsreadChannelConfig[]>();
  for (let p = range.first; p <= range.last; p++) {
    const e = expected(p);
    if (!e) continue;
    for (const c of e.channels) {
      if (range.channels && !range.channels.includes(c.name)) continue;
      const list = versions.get(c.name) ?? [];
      if (!list.some((v) => sameConfig(v, c))) list.push(c);
      versions.set(c.name, list);
    }
  }
  let valuesChecked = 0;
  let present = 0;
  await withH5File(path, (file) => {
    for (const [name, configs] of versions) {
      const group = `/data/${name}`;
      const ids = h5Dataset(file, `${group}/pulse_id`).value as BigInt64Array;
      expect(Array.from(ids), `${group}/pulse_id`).toEqual(Array.from({ length: rows }, (_, r) => BigInt(range.first + r)));
      const flags = h5Dataset(file, `${group}/is_data_present`).value as Uint8Array;
      expect(flags.length, `${group}/is_data_present rows`).toBe(rows);
      // data(1)… are the older versions, data the newest (see swissfelLayout.ts).
      const names = configs.map((_, k) => (k === configs.length - 1 ? 'data' : `data(${k + 1})`));
      const datasets = names.map((n) => h5Dataset(file, `${group}/${n}`));
      const raw = datasets.map((d) => (d.dtype === 'S' ? null : bytesOfDataset(d)));
      const strings = datasets.map((d) => (d.dtype === 'S' ? (d.value as string[]) : null));
      for (let r = 0; r < rows; r++) {
        const p = range.first + r;
        const e = expected(p);
        const index = e ? e.channels.findIndex((c) => c.name === name) : -1;
        const value = e && index >= 0 ? e.values[index] : null;
        const flag = value === null || value === undefined ? 0 : 1;
        expect(flags[r], `${group} is_data_present at pulse ${p} (row ${r} of ${range.first}..${range.last})`).toBe(flag);
        if (!flag || !e) continue;
        present++;
        const config = e.channels[index]!;
        const k = configs.findIndex((c) => sameConfig(c, config));
        if (config.type === 'string') {
          expect(strings[k]?.[r], `${group}/${names[k]} at pulse ${p}`).toBe(new TextDecoder().decode(value!));
        } else {
          const rowBytes = hdf5ShapeOf(config).reduce((a, b) => a * b, 1) * elementSize(config.type);
          const got = raw[k]!.subarray(r * rowBytes, (r + 1) * rowBytes);
          expect(Buffer.from(got).equals(Buffer.from(value!)), `${group}/${names[k]} bytes at pulse ${p}`).toBe(true);
        }
        valuesChecked++;
      }
    }
  });
  return { rows, channels: [...versions.keys()], valuesChecked, present };
};

/** Every channel's `pulse_id` and `is_data_present` rows, as h5wasm reads them. */
export const readRowsOfChannels = (path: string): Promise<Record<string, { pulseIds: number[]; present: number[] }>> =>
  withH5File(path, (file) => {
    const data = file.get('/data');
    if (!(data instanceof h5wasm.Group)) throw new Error(`${path} has no /data group`);
    return Object.fromEntries(
      data.keys().map((k) => {
        const ids = h5Dataset(file, `/data/${k}/pulse_id`).value as BigInt64Array;
        const present = h5Dataset(file, `/data/${k}/is_data_present`).value as Uint8Array;
        return [k, { pulseIds: Array.from(ids, Number), present: Array.from(present) }];
      }),
    );
  });

/** What the rows of a file must be when every pulse first..last was sent and `lost` ones never reached it. */
export const expectedRows = (first: number, last: number, lost: readonly { from: number; to: number }[]): { pulseIds: number[]; present: number[] } => {
  const pulseIds = Array.from({ length: last - first + 1 }, (_, i) => first + i);
  return { pulseIds, present: pulseIds.map((p) => (lost.some((r) => p >= r.from && p <= r.to) ? 0 : 1)) };
};
