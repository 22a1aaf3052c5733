/**
 * Pins on receive buffers that left the receiving thread without a copy.
 *
 * An image frame is read into a pooled buffer (framePool.ts) backed by a SharedArrayBuffer, so a
 * writer thread can read it where it lies instead of the receiving thread copying 2.6 MB per image
 * into memory of the writer's (at 300 images/s that copy was most of the receiving thread's time,
 * and a receiving thread that falls behind makes the sender drop pulses). The ring buffer lets
 * go of a message while its writer thread may still be writing it, so whoever hands a buffer to
 * another thread pins it until that thread is done; the pool fills a pinned buffer again only
 * once the last pin is gone. A pin that is never removed only keeps the buffer from the pool: the
 * GC takes it like any other.
 */
interface Pins {
  count: number;
  /** What to do when the last pin goes (the pool taking the buffer back). */
  onFree: (() => void) | undefined;
}

const pins = new WeakMap<ArrayBufferLike, Pins>();

/** Pins `memory`; the function returned removes this pin (a second call does nothing). */
export const pinFrame = (memory: ArrayBufferLike): (() => void) => {
  let entry = pins.get(memory);
  if (entry === undefined) {
    entry = { count: 0, onFree: undefined };
    pins.set(memory, entry);
  }
  entry.count++;
  const pinned = entry;
  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    if (--pinned.count > 0) return;
    pins.delete(memory);
    const onFree = pinned.onFree;
    pinned.onFree = undefined;
    onFree?.();
  };
};

/** Whether `memory` is pinned now. */
export const isFramePinned = (memory: ArrayBufferLike): boolean => (pins.get(memory)?.count ?? 0) > 0;

/**
 * Runs `free` now when `memory` is not pinned, else when its last pin goes (replacing an earlier
 * `free` not yet run). Returns whether it ran now.
 */
export const whenFrameUnpinned = (memory: ArrayBufferLike, free: () => void): boolean => {
  const entry = pins.get(memory);
  if (entry === undefined || entry.count === 0) {
    free();
    return true;
  }
  entry.onFree = free;
  return false;
};
