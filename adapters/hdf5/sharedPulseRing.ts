/**
 * The shared memory an acquisition fills with pulses for its writer thread: one SharedArrayBuffer,
 * given to the thread once, carved into consecutive regions, one per pulse, freed in the order
 * they were taken (the thread writes pulses in order and acks them in order).
 *
 * Why not a transferred ArrayBuffer per pulse (the way before, still the fallback when the ring is
 * full): every buffer that arrives in a thread counts as new external memory there until the next
 * full GC, so 400 images/s made V8 run a mark-compact of the main heap about three times a
 * second, and its marking threads took about 40% of a core. A pulse here is a message of a few
 * numbers; the bytes stay where they are.
 *
 * The rings themselves are reused from acquisition to acquisition (`takeSharedPulseRing`,
 * `returnSharedPulseRing`): new memory is dear on a VM (see framePool.ts).
 */
export class SharedPulseRing {
  readonly buffer: SharedArrayBuffer;
  private readonly size: number;
  /** Regions taken and not freed, oldest first: starts, ends and pulse numbers from `head` on. */
  private starts: number[] = [];
  private ends: number[] = [];
  private pulses: number[] = [];
  private head = 0;
  /** Pulses sent to the thread, and of those acked by it, counted from open. */
  private sent = 0;
  private acked = 0;

  constructor(bytes: number) {
    this.buffer = new SharedArrayBuffer(bytes);
    this.size = bytes;
  }

  /** Regions taken and not freed. */
  get taken(): number {
    return this.starts.length - this.head;
  }

  /** The start (a multiple of 8) of `bytes` free contiguous bytes, now taken; undefined when there is no such room. */
  take(bytes: number): number | undefined {
    if (bytes <= 0 || bytes > this.size) return undefined;
    let start: number;
    if (this.taken === 0) {
      start = 0;
    } else {
      const oldest = this.starts[this.head]!;
      const newestStart = this.starts[this.starts.length - 1]!;
      // Regions start 8-byte aligned: a pulse's timestamps are a Float64Array over its region.
      const end = (this.ends[this.ends.length - 1]! + 7) & ~7;
      if (newestStart >= oldest) {
        // Not wrapped: free are [end, size) and [0, oldest).
        if (this.size - end >= bytes) start = end;
        else if (oldest >= bytes) start = 0;
        else return undefined;
      } else {
        // Wrapped: free is [end, oldest).
        if (oldest - end >= bytes) start = end;
        else return undefined;
      }
    }
    this.starts.push(start);
    this.ends.push(start + bytes);
    this.pulses.push(this.sent);
    return start;
  }

  /** A pulse went to the thread (in the ring or not): the next `take` belongs to the next one. */
  sentPulse(): void {
    this.sent++;
  }

  /** The thread acked `count` more pulses, in the order sent: their regions are free. */
  ackedPulses(count: number): void {
    this.acked = Math.min(this.sent, this.acked + count);
    while (this.taken > 0 && this.pulses[this.head]! < this.acked) this.freeOldest();
  }

  /** Frees the oldest region taken. */
  freeOldest(): void {
    if (this.taken === 0) throw new Error('shared pulse ring: nothing to free');
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.starts.length) {
      this.starts = this.starts.slice(this.head);
      this.ends = this.ends.slice(this.head);
      this.pulses = this.pulses.slice(this.head);
      this.head = 0;
    }
  }

  /** Gives back the region taken last (it was never sent). */
  dropNewest(): void {
    if (this.taken === 0) throw new Error('shared pulse ring: nothing to drop');
    this.starts.pop();
    this.ends.pop();
    this.pulses.pop();
  }

  /** Frees every region (the thread will read none of them again). */
  clear(): void {
    this.starts = [];
    this.ends = [];
    this.pulses = [];
    this.head = 0;
    this.sent = 0;
    this.acked = 0;
  }
}

/** Bytes of each acquisition's ring: 24 images of 2.6 MB, or thousands of scalar pulses. */
export const SHARED_PULSE_RING_BYTES = 64 * 1024 ** 2;

const idle: SharedPulseRing[] = [];

/** A ring for a new acquisition, one used before when there is one. */
export const takeSharedPulseRing = (bytes = SHARED_PULSE_RING_BYTES): SharedPulseRing => {
  const i = idle.findIndex((r) => r.buffer.byteLength === bytes);
  if (i < 0) return new SharedPulseRing(bytes);
  const [ring] = idle.splice(i, 1);
  return ring!;
};

/**
 * Makes one ring ready for the first acquisition, every page written once: on a VM a new page
 * costs ~11 us the first time (180 ms for 64 MiB), better paid at start-up than by the receiver.
 */
export const prepareSharedPulseRing = (bytes = SHARED_PULSE_RING_BYTES): void => {
  if (idle.some((r) => r.buffer.byteLength === bytes)) return;
  const ring = new SharedPulseRing(bytes);
  new Uint8Array(ring.buffer).fill(0);
  idle.push(ring);
};

/** Gives a ring back once its thread reads it no more; a few are kept for the next acquisitions. */
export const returnSharedPulseRing = (ring: SharedPulseRing): void => {
  ring.clear();
  if (idle.length < 4 && !idle.includes(ring)) idle.push(ring);
};
