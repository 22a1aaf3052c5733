import { describe, expect, it } from 'vitest';
import type { BsreadTimestamp, BsreadValue } from './bsreadMessage.js';
import { BsreadValues, COPY_MAX_BYTES, IN_VIEWS, NO_VALUE, allocateValues } from './bsreadValues.js';

/** `length` bytes that differ from those of another seed: a value mixed up with another shows. */
const pattern = (length: number, seed: number): Uint8Array => {
  const out = new Uint8Array(length);
  for (let j = 0; j < length; j++) out[j] = (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(j + 1, 0x85ebca6b)) >>> 24;
  return out;
};

/** Where two byte arrays first differ, -1 if nowhere (toEqual is slow on a megabyte of them). */
const firstDifference = (a: Uint8Array, b: Uint8Array): number => {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let j = 0; j < a.length; j++) if (a[j] !== b[j]) return j;
  return -1;
};

const at = (sec: number, ns: number): BsreadTimestamp => ({ sec, ns });

describe('packed bsread values', () => {
  // The view of the big value sits inside a larger buffer at an odd offset, as a value cut out of
  // a receiver's read buffer does: kept, not copied, it must stay exactly that view.
  const big = new Uint8Array(pattern(4096, 99).buffer, 17, COPY_MAX_BYTES + 1);
  const input = (): BsreadValue[] => [
    { bytes: null, timestamp: null },
    { bytes: pattern(1, 1), timestamp: at(1_700_000_000, 1) },
    { bytes: pattern(3, 2), timestamp: null },
    // A timestamp without a value: the two are independent on the wire.
    { bytes: null, timestamp: at(5, 999_999_999) },
    { bytes: pattern(8, 3), timestamp: at(1_700_000_001, 0) },
    { bytes: pattern(COPY_MAX_BYTES, 4), timestamp: at(0, 0) },
    { bytes: big, timestamp: at(1_700_000_002, 500_000_000) },
    // Present but empty (an empty string) is not the same as no value.
    { bytes: new Uint8Array(0), timestamp: null },
  ];

  it('gives back every value and timestamp it was given, the small ones copied and the big one kept', () => {
    const given = input();
    const values = BsreadValues.from(given);

    expect(values.length).toBe(8);
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((i) => values.has(i))).toEqual([false, true, true, false, true, true, true, true]);
    expect(values.has(-1)).toBe(false);
    expect(values.has(8)).toBe(false);
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((i) => values.byteLength(i))).toEqual([0, 1, 3, 0, 8, COPY_MAX_BYTES, COPY_MAX_BYTES + 1, 0]);

    for (let i = 0; i < given.length; i++) {
      expect(values.bytes(i)).toEqual(given[i]!.bytes);
      expect(values.timestamp(i)).toEqual(given[i]!.timestamp);
      expect(values.at(i)).toEqual(given[i]);
    }
    expect(values.toArray()).toEqual(given);

    // Exactly COPY_MAX_BYTES is still copied; one more byte is not.
    expect(values.layout[2 * 5]).not.toBe(IN_VIEWS);
    expect(values.bytes(5)!.buffer).not.toBe(given[5]!.bytes!.buffer);
    expect(values.layout[2 * 6]).toBe(IN_VIEWS);
    expect(values.bytes(6)).toBe(big);
    expect(values.layout[0]).toBe(NO_VALUE);
    // The big value's bytes are not in the block as well.
    expect(values.data.byteLength).toBe(1 + 3 + 8 + COPY_MAX_BYTES);
  });

  it('keeps its copies when the buffers they came from are reused', () => {
    const given = input();
    const values = BsreadValues.from(given);
    for (const i of [1, 2, 4, 5]) given[i]!.bytes!.fill(0xee);

    const expected = input();
    for (const i of [1, 2, 4, 5]) expect(values.bytes(i)).toEqual(expected[i]!.bytes);
  });

  it('selects channels in any order, repeats included, timestamps and views following their values', () => {
    const values = BsreadValues.from(input());
    const indices = [6, 1, 1, 0, 5, 3, 7];
    const selected = values.select(indices);
    const expected = input();

    expect(selected.length).toBe(indices.length);
    indices.forEach((i, k) => {
      expect(selected.has(k)).toBe(values.has(i));
      expect(selected.byteLength(k)).toBe(values.byteLength(i));
      expect(selected.at(k)).toEqual(expected[i]);
    });
    expect(selected.bytes(0)).toBe(big);
    // A selection shares the bytes of what it selects from (that is what makes it cheap).
    expect(selected.data).toBe(values.data);

    // A selection of a selection still finds the right values.
    const again = selected.select([4, 0]);
    expect(again.toArray()).toEqual([expected[5], expected[6]]);
    expect(again.bytes(1)).toBe(big);

    expect(values.select([]).length).toBe(0);
  });

  it('refuses to select a channel it does not have', () => {
    const values = BsreadValues.from(input());
    expect(() => values.select([0, 8])).toThrow(RangeError);
    expect(() => values.select([-1])).toThrow(RangeError);
    expect(() => values.select([Number.NaN])).toThrow(RangeError);
    // A fraction would otherwise read channel 0's length as a start.
    expect(() => values.select([0.5])).toThrow(RangeError);
    expect(values.has(0.5)).toBe(false);
    expect(values.bytes(0.5)).toBeNull();
    expect(values.timestamp(0.5)).toBeNull();
  });

  it('never hands out misaligned or overlapping storage, within a slab, across slabs or on its own', () => {
    type Allocation = ReturnType<typeof allocateValues> & { mark: number };
    const live: Allocation[] = [];
    const buffers = new Set<ArrayBufferLike>();
    // Odd channel counts and byte counts, so that a missing round-up to 8 bytes shows; some over
    // 16 KiB (a buffer of their own). About 1 MB in all: well over one 64 KiB slab.
    for (let k = 0; k < 500; k++) {
      const channels = ((k * 13) % 41) + 1;
      const dataBytes = k % 50 === 49 ? 17_001 : ((k * 977) % 3001) | 1;
      const allocation = allocateValues(channels, dataBytes);
      expect([allocation.stamps.byteOffset % 8, allocation.layout.byteOffset % 4]).toEqual([0, 0]);
      expect([allocation.stamps.length, allocation.layout.length, allocation.data.length]).toEqual([2 * channels, 2 * channels, dataBytes]);
      buffers.add(allocation.data.buffer);
      // Written at once: a later allocation overlapping an earlier one overwrites its marks.
      allocation.stamps.fill(k);
      allocation.layout.fill(k);
      allocation.data.set(pattern(dataBytes, k));
      live.push({ ...allocation, mark: k });
    }
    expect(buffers.size).toBeGreaterThan(10);

    const damaged = live.filter(
      ({ stamps, layout, data, mark }) =>
        !stamps.every((x) => x === mark) || !layout.every((x) => x === mark) || firstDifference(data, pattern(data.length, mark)) >= 0,
    );
    expect(damaged.map((a) => a.mark)).toEqual([]);
  });

  it('keeps the timestamps of values packed one after the other 8-byte aligned', () => {
    for (let k = 1; k < 200; k++) {
      const values = BsreadValues.from([{ bytes: pattern(k % 13, k), timestamp: at(k, k) }, { bytes: pattern(2 * k + 1, k), timestamp: null }]);
      expect(values.stamps.byteOffset % 8).toBe(0);
      expect(values.select([1, 0, 1]).stamps.byteOffset % 8).toBe(0);
      expect(values.timestamp(0)).toEqual(at(k, k));
    }
  });
});
