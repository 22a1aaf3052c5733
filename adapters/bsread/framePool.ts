/**
 * Receive buffers for big frames (camera images), used again once the ring buffer has let go of
 * the message that held them.
 *
 * Why: the ZMTP reader reads an image straight into a buffer of its own. A new buffer for every
 * image means new memory for every image, and memory touched for the first time is what a
 * virtual machine charges most for: on the bench's VM, 11 us per 4 KiB page, 7 ms for a
 * 1024x1280 uint16 image, more than the whole rest of the receiving (an `alloc+fill` of 2.6 MB
 * took 0.9-1.8 ms fresh, 0.02 ms on a buffer used before). glibc's malloc does not keep such
 * buffers for us: they come and go through mmap or a trimmed heap (the tunables did not help).
 *
 * Ownership is explicit, so that a buffer is never filled again while something still reads it:
 * `take` hands out a buffer and remembers it as out; `give` takes back only a buffer that is out
 * (a second `give` of the same buffer, or one the pool never handed out, is ignored and counted).
 * The receiver gives a message's buffers back only when the ring buffer says no reader holds the
 * message any more (see ringBuffer.ts, `onRelease`). A buffer never given back is simply
 * collected by the GC, as without a pool.
 */
import type { FrameArena } from './frameArena.js';
import { whenFrameUnpinned } from './framePins.js';

export interface FramePoolOptions {
  /**
   * Frames smaller than this are not pooled (a plain allocation each). Default 16 KiB: the ZMTP
   * reader reads 64 KiB at a time, so a waveform of 16-64 KiB is often cut by a read and read
   * into a buffer of its own; pooled, it does not cost new pages each time either.
   */
  readonly minBytes?: number;
  /** Most bytes of spare buffers kept; more given back are left to the GC. Default 64 MiB. */
  readonly maxSpareBytes?: number;
  /**
   * Buffers backed by SharedArrayBuffers, so a writer thread can read a frame without a copy
   * (framePins.ts keeps such a buffer from being filled again while a thread reads it).
   * Default true.
   */
  readonly shared?: boolean;
  /** Resident shared memory to carve new buffers from before allocating any (frameArena.ts). */
  readonly arena?: FrameArena;
}

export interface FramePoolCounters {
  /** Buffers handed out that were new. */
  readonly allocated: number;
  /** Buffers handed out that were spares (given back earlier). */
  readonly reused: number;
  /** Buffers given back and kept as spares. */
  readonly returned: number;
  /** Buffers given back while the spares were full, or spares dropped for a new size: left to the GC. */
  readonly discarded: number;
  /** `give` calls for a buffer that was not out (given twice, or never from this pool): ignored. */
  readonly ignored: number;
  /** Buffers given back while a thread still read them (framePins.ts): taken back once it was done. */
  readonly givenWhilePinned: number;
  /** Bytes of spare buffers kept now (beside those of the arena). */
  readonly spareBytes: number;
  /** Bytes of spare buffers carved from the arena kept now (not bounded: see `residentSpares`). */
  readonly residentSpareBytes: number;
}

export interface FramePool {
  /** The smallest frame this pool serves; smaller ones should be allocated as usual. */
  readonly minBytes: number;
  /** A buffer of exactly `size` bytes (at least `minBytes`); its content is undefined. */
  take(size: number): Buffer;
  /** Gives back a buffer `take` handed out, once nothing reads it any more. */
  give(buffer: Uint8Array): void;
  /** Whether `buffer` is one this pool handed out and that was not given back yet. */
  isOut(buffer: Uint8Array): boolean;
  counters(): FramePoolCounters;
}

export const createFramePool = (options: FramePoolOptions = {}): FramePool => {
  const minBytes = options.minBytes ?? 16 * 1024;
  const maxSpareBytes = options.maxSpareBytes ?? 64 * 1024 ** 2;
  const shared = options.shared ?? true;
  /** Spares by exact size: a stream's images all have the same size. */
  const spares = new Map<number, Buffer[]>();
  /**
   * Spares carved from the arena, kept whatever the bound: the arena holds their memory for good,
   * so dropping one frees nothing, and the next frame would take new memory (slow to touch, the
   * reason for the arena) in its place. Dropped, they leaked out of circulation after each time a
   * writer thread let many go at once (catching up), until the reader took new memory per image.
   */
  const residentSpares = new Map<number, Buffer[]>();
  let residentSpareBytes = 0;
  const out = new WeakSet<Uint8Array>();
  let spareBytes = 0;
  let allocated = 0;
  let reused = 0;
  let returned = 0;
  let discarded = 0;
  let ignored = 0;
  let givenWhilePinned = 0;

  const take = (size: number): Buffer => {
    const resident = residentSpares.get(size)?.pop();
    if (resident !== undefined) {
      residentSpareBytes -= size;
      reused++;
      out.add(resident);
      return resident;
    }
    const spare = spares.get(size)?.pop();
    let buffer: Buffer;
    if (spare !== undefined) {
      spareBytes -= size;
      reused++;
      buffer = spare;
    } else {
      allocated++;
      buffer = (shared ? options.arena?.carve(size) : undefined) ?? (shared ? Buffer.from(new SharedArrayBuffer(size)) : Buffer.allocUnsafeSlow(size));
    }
    out.add(buffer);
    return buffer;
  };

  const give = (buffer: Uint8Array): void => {
    if (!out.has(buffer)) {
      ignored++;
      return;
    }
    out.delete(buffer);
    // A writer thread may still be reading it: it comes back when that thread is done.
    if (!whenFrameUnpinned(buffer, () => keep(buffer))) givenWhilePinned++;
  };

  const fileUnder = (bySize: Map<number, Buffer[]>, buffer: Uint8Array): void => {
    const list = bySize.get(buffer.byteLength);
    if (list === undefined) bySize.set(buffer.byteLength, [buffer as Buffer]);
    else list.push(buffer as Buffer);
  };

  const keep = (buffer: Uint8Array): void => {
    const size = buffer.byteLength;
    if (options.arena?.holds(buffer) === true) {
      fileUnder(residentSpares, buffer);
      residentSpareBytes += size;
      returned++;
      return;
    }
    // Over the bound, spares of other sizes go first: a camera whose region of interest changed
    // will not need them again, while two cameras of different sizes each keep theirs in turn.
    for (const [other, buffers] of spares) {
      if (spareBytes + size <= maxSpareBytes) break;
      if (other === size) continue;
      spareBytes -= other * buffers.length;
      discarded += buffers.length;
      spares.delete(other);
    }
    if (spareBytes + size > maxSpareBytes) {
      discarded++;
      return;
    }
    fileUnder(spares, buffer);
    spareBytes += size;
    returned++;
  };

  return {
    minBytes,
    take,
    give,
    isOut: (buffer) => out.has(buffer),
    counters: () => ({ allocated, reused, returned, discarded, ignored, givenWhilePinned, spareBytes, residentSpareBytes }),
  };
};
