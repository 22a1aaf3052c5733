/**
 * Pins on receive buffers that left the receiving thread without a copy.
 *
 * An image frame is read into a pooled buffer (framePool.ts) of shared memory, so a writer thread
 * can read it where it lies instead of the receiving thread copying 2.6 MB per image into memory
 * of the writer's (at 300 images/s that copy was most of the receiving thread's time, and a
 * receiving thread that falls behind makes the sender drop pulses). The ring buffer lets go of a
 * message while its writer thread may still be writing it, so whoever hands a view to another
 * thread pins it until that thread is done; the pool fills a buffer again only once no pin lies
 * within it. Several buffers may share one SharedArrayBuffer (frameArena.ts), so a pin is on a
 * range of it, not on all of it. A pin that is never removed only keeps the buffer from the pool:
 * the GC takes it like any other.
 */

/** Per shared memory: pinned ranges (by `start:end`, with a count), and frees waiting for a range. */
interface MemoryPins {
  readonly pinned: Map<string, { readonly start: number; readonly end: number; count: number }>;
  waiting: Array<{ readonly start: number; readonly end: number; readonly free: () => void }>;
}

const pinsOf = new WeakMap<ArrayBufferLike, MemoryPins>();

const overlapsPin = (entry: MemoryPins, start: number, end: number): boolean => {
  for (const pin of entry.pinned.values()) if (pin.start < end && pin.end > start) return true;
  return false;
};

/** Pins the bytes `view` covers; the function returned removes this pin (a second call does nothing). */
export const pinFrame = (view: Uint8Array): (() => void) => {
  const memory = view.buffer;
  let entry = pinsOf.get(memory);
  if (entry === undefined) {
    entry = { pinned: new Map(), waiting: [] };
    pinsOf.set(memory, entry);
  }
  const start = view.byteOffset;
  const end = start + view.byteLength;
  const key = `${start}:${end}`;
  let pin = entry.pinned.get(key);
  if (pin === undefined) {
    pin = { start, end, count: 0 };
    entry.pinned.set(key, pin);
  }
  pin.count++;
  const pins = entry;
  const held = pin;
  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    if (--held.count > 0) return;
    pins.pinned.delete(key);
    if (pins.waiting.length === 0) return;
    const stillWaiting: MemoryPins['waiting'] = [];
    const due: Array<() => void> = [];
    for (const w of pins.waiting) {
      if (overlapsPin(pins, w.start, w.end)) stillWaiting.push(w);
      else due.push(w.free);
    }
    pins.waiting = stillWaiting;
    for (const free of due) free();
  };
};

/** Whether any byte of `buffer` is pinned now. */
export const isFramePinned = (buffer: Uint8Array): boolean => {
  const entry = pinsOf.get(buffer.buffer);
  return entry !== undefined && overlapsPin(entry, buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
};

/**
 * Runs `free` now when no byte of `buffer` is pinned, else when the last pin within it goes.
 * Returns whether it ran now.
 */
export const whenFrameUnpinned = (buffer: Uint8Array, free: () => void): boolean => {
  const entry = pinsOf.get(buffer.buffer);
  const start = buffer.byteOffset;
  const end = start + buffer.byteLength;
  if (entry === undefined || !overlapsPin(entry, start, end)) {
    free();
    return true;
  }
  entry.waiting.push({ start, end, free });
  return false;
};
