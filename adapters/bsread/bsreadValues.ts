/**
 * The channel values of one pulse, packed: a few typed arrays instead of an object, a view and a
 * timestamp object per channel.
 *
 * Why: the ring buffer keeps every pulse for as long as it holds it (0.5 s at 2 kHz), so all a
 * pulse is made of lives through the young generation's collections and is copied, then promoted,
 * then marked. At 200 scalar channels the object-per-value form was ~37 KB of heap objects per
 * pulse: a scavenge every 70 ms taking 11-13 ms (up to 56), and a mark-compact of a 250 MB heap
 * every 1.5 s, on the thread that must read the socket (bench/LOG.md, 2026-12-05, evening).
 * Packed, a pulse of uncompressed values up to 1 KiB is four objects whatever its channel count.
 *
 * Uncompressed values up to `COPY_MAX_BYTES` are copied into `data`, one after the other in
 * channel order (byte-swapped on the way when big-endian). Any other value (an image, a long
 * waveform, a compressed value) is a buffer of its own in `views`: the view it arrived as, or its
 * decompressed or byte-swapped copy, since copying it again would cost more than the object saved.
 */
import type { BsreadTimestamp, BsreadValue } from './bsreadMessage.js';

/** Values up to this size are copied into the pulse's `data`; bigger ones are kept as views. */
export const COPY_MAX_BYTES = 1024;

/** Per channel in `layout`: the value's start in `data`, or one of these. */
export const NO_VALUE = -1;
export const IN_VIEWS = -2;

// One 64 KiB slab serves the small allocations of ~10 pulses of 200 channels: below glibc's mmap
// threshold, so a freed slab's memory goes back to malloc and is reused without new page faults
// (dear on a VM: ~11 us per 4 KiB page touched the first time).
const SLAB_BYTES = 64 * 1024;
const OWN_BUFFER_BYTES = 16 * 1024;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabAt = 0;

/** `bytes` bytes at an 8-byte aligned offset of a shared slab (or a buffer of their own when big). */
const carve = (bytes: number): { buffer: ArrayBuffer; offset: number } => {
  if (bytes > OWN_BUFFER_BYTES) return { buffer: new ArrayBuffer(bytes), offset: 0 };
  if (slabAt + bytes > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabAt = 0;
  }
  const offset = slabAt;
  slabAt = (slabAt + bytes + 7) & ~7;
  return { buffer: slab, offset };
};

/** Storage for `channels` values of which `dataBytes` bytes are copied: for a decoder to fill. */
export const allocateValues = (channels: number, dataBytes: number): { data: Uint8Array; layout: Int32Array; stamps: Float64Array } => {
  const { buffer, offset } = carve(16 * channels + 8 * channels + dataBytes);
  return {
    stamps: new Float64Array(buffer, offset, 2 * channels),
    layout: new Int32Array(buffer, offset + 16 * channels, 2 * channels),
    data: new Uint8Array(buffer, offset + 24 * channels, dataBytes),
  };
};

export class BsreadValues {
  readonly length: number;

  constructor(
    /** The copied values' bytes (little-endian elements, as bsreadMessage.ts says of `bytes`). */
    readonly data: Uint8Array,
    /** Per channel: start in `data` and length; start `NO_VALUE`: none; `IN_VIEWS`: `views[i]`. */
    readonly layout: Int32Array,
    /** Per channel: seconds and nanoseconds; NaN: no timestamp. */
    readonly stamps: Float64Array,
    /** The values kept as views, at their channel's index (null elsewhere); absent when none. */
    readonly views?: ReadonlyArray<Uint8Array | null>,
  ) {
    this.length = layout.length >> 1;
  }

  /** Packs values given one by one (tests, tools): small ones copied, big ones kept as views. */
  static from(values: readonly BsreadValue[]): BsreadValues {
    const n = values.length;
    let dataBytes = 0;
    for (const v of values) if (v.bytes !== null && v.bytes.byteLength <= COPY_MAX_BYTES) dataBytes += v.bytes.byteLength;
    const { data, layout, stamps } = allocateValues(n, dataBytes);
    let views: Array<Uint8Array | null> | undefined;
    let at = 0;
    for (let i = 0; i < n; i++) {
      const { bytes, timestamp } = values[i]!;
      if (bytes === null) {
        layout[2 * i] = NO_VALUE;
        layout[2 * i + 1] = 0;
      } else if (bytes.byteLength <= COPY_MAX_BYTES) {
        data.set(bytes, at);
        layout[2 * i] = at;
        layout[2 * i + 1] = bytes.byteLength;
        at += bytes.byteLength;
      } else {
        (views ??= new Array<Uint8Array | null>(n).fill(null))[i] = bytes;
        layout[2 * i] = IN_VIEWS;
        layout[2 * i + 1] = bytes.byteLength;
      }
      stamps[2 * i] = timestamp?.sec ?? Number.NaN;
      stamps[2 * i + 1] = timestamp?.ns ?? Number.NaN;
    }
    return new BsreadValues(data, layout, stamps, views);
  }

  has(i: number): boolean {
    return Number.isInteger(i) && i >= 0 && i < this.length && this.layout[2 * i] !== NO_VALUE;
  }

  /** Bytes of value `i`; 0 when it has none. */
  byteLength(i: number): number {
    return this.has(i) ? this.layout[2 * i + 1]! : 0;
  }

  /** Value `i`'s bytes, or null: a new view of `data` at each call for a copied value, the stored view for another. */
  bytes(i: number): Uint8Array | null {
    if (!this.has(i)) return null;
    const start = this.layout[2 * i]!;
    if (start === IN_VIEWS) return this.views![i]!;
    return this.data.subarray(start, start + this.layout[2 * i + 1]!);
  }

  timestamp(i: number): BsreadTimestamp | null {
    if (!Number.isInteger(i)) return null;
    const sec = this.stamps[2 * i];
    return sec === undefined || Number.isNaN(sec) ? null : { sec, ns: this.stamps[2 * i + 1]! };
  }

  at(i: number): BsreadValue {
    return { bytes: this.bytes(i), timestamp: this.timestamp(i) };
  }

  toArray(): BsreadValue[] {
    const out = new Array<BsreadValue>(this.length);
    for (let i = 0; i < this.length; i++) out[i] = this.at(i);
    return out;
  }

  /** The values of the channels at `indices`, in that order; the bytes are shared, not copied. */
  select(indices: readonly number[]): BsreadValues {
    const n = indices.length;
    const { layout, stamps } = allocateValues(n, 0);
    let views: Array<Uint8Array | null> | undefined;
    for (let k = 0; k < n; k++) {
      const i = indices[k]!;
      if (!(Number.isInteger(i) && i >= 0 && i < this.length)) throw new RangeError(`no channel ${i} among ${this.length}`);
      layout[2 * k] = this.layout[2 * i]!;
      layout[2 * k + 1] = this.layout[2 * i + 1]!;
      stamps[2 * k] = this.stamps[2 * i]!;
      stamps[2 * k + 1] = this.stamps[2 * i + 1]!;
      if (layout[2 * k] === IN_VIEWS) (views ??= new Array<Uint8Array | null>(n).fill(null))[k] = this.views![i]!;
    }
    return new BsreadValues(this.data, layout, stamps, views);
  }
}
