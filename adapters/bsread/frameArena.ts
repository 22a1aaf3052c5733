/**
 * Receive memory made resident before a stream needs it.
 *
 * Why: the frame pool (framePool.ts) reuses an image's buffer once the ring buffer lets go of it,
 * but the ring's first lap (512 MiB: about 0.65 s of 1024x1280 images at 300 Hz) is all new
 * buffers, and on a VM whose memory the host backs lazily a new page costs ~11 us on its first
 * touch: 7 ms per image, more than the 3.3 ms between two images. Measured with a fresh
 * `daqflow up` and the stream started a moment before the first acquisition, the receiving
 * thread fell behind for that whole first lap and the sender dropped 600-900 images.
 *
 * How: SharedArrayBuffers of `chunkBytes`, every page written once by a short-lived thread of
 * its own, so the receiving thread never waits for it; the pool carves image buffers out of a
 * chunk only once that chunk is done (before, it allocates as without an arena). Carved buffers
 * are never returned to the arena: they circulate in the pool as spares of their size, kept
 * whatever the pool's bound (framePool.ts). A stream whose frame size changes leaves the old
 * carvings unused (the memory is held either way) and takes the new size from what the arena has
 * left, then from new memory; an arena is sized for one ring buffer's worth of frames plus what
 * writer threads may hold.
 */
import { Worker } from 'node:worker_threads';

export interface FrameArenaCounters {
  readonly bytes: number;
  /** Bytes of chunks whose pages are resident (ready to carve from). */
  readonly residentBytes: number;
  /** Frames carved, and their bytes. */
  readonly carved: number;
  readonly carvedBytes: number;
  /** Why making the chunks resident failed, if it did (the pool then allocates as usual). */
  readonly failed: string | null;
}

export interface FrameArena {
  /** `size` bytes of resident shared memory (8-byte aligned), or undefined when there is no room ready. */
  carve(size: number): Buffer | undefined;
  /** Whether `buffer` lies in this arena's memory (carved from it). */
  holds(buffer: Uint8Array): boolean;
  /** Resolves when every chunk is resident (or making them so failed). */
  readonly ready: Promise<void>;
  counters(): FrameArenaCounters;
}

export const DEFAULT_ARENA_CHUNK_BYTES = 64 * 1024 ** 2;

// Plain JavaScript run by the thread: one write per 4 KiB page of each chunk, in order, telling
// the main thread after each chunk.
const TOUCHER = `
const { parentPort, workerData } = require('node:worker_threads');
for (let i = 0; i < workerData.length; i++) {
  const bytes = new Uint8Array(workerData[i]);
  for (let at = 0; at < bytes.length; at += 4096) bytes[at] = 0;
  parentPort.postMessage(i);
}
`;

export const createFrameArena = (bytes: number, chunkBytes = DEFAULT_ARENA_CHUNK_BYTES): FrameArena => {
  const chunks: SharedArrayBuffer[] = [];
  for (let left = bytes; left > 0; left -= chunkBytes) chunks.push(new SharedArrayBuffer(Math.min(chunkBytes, left)));
  const chunkSet = new Set<ArrayBufferLike>(chunks);
  /** Chunks resident so far (the first `resident` of `chunks`), and their bytes. */
  let resident = 0;
  let residentBytes = 0;
  let current = 0;
  let used = 0;
  let carved = 0;
  let carvedBytes = 0;
  let failed: string | null = null;

  const ready = new Promise<void>((resolve) => {
    if (chunks.length === 0) return resolve();
    let worker: Worker;
    try {
      worker = new Worker(TOUCHER, { eval: true, workerData: chunks });
    } catch (e) {
      failed = (e as Error).message;
      return resolve();
    }
    // Never what keeps the process alive.
    worker.unref();
    worker.on('message', (i: number) => {
      resident = i + 1;
      residentBytes += chunks[i]!.byteLength;
      if (resident === chunks.length) resolve();
    });
    worker.on('error', (e) => {
      failed = e.message;
      resolve();
    });
    worker.on('exit', () => resolve());
  });

  return {
    carve: (size) => {
      const aligned = (size + 7) & ~7;
      while (current < resident) {
        const chunk = chunks[current]!;
        if (chunk.byteLength - used >= aligned) {
          const buffer = Buffer.from(chunk, used, size);
          used += aligned;
          carved++;
          carvedBytes += size;
          return buffer;
        }
        if (aligned > chunk.byteLength) return undefined; // bigger than a chunk: never from here
        current++;
        used = 0;
      }
      return undefined;
    },
    holds: (buffer) => chunkSet.has(buffer.buffer),
    ready,
    counters: () => ({ bytes, residentBytes, carved, carvedBytes, failed }),
  };
};
