import { describe, expect, it } from 'vitest';
import { SharedPulseRing, returnSharedPulseRing, takeSharedPulseRing } from './sharedPulseRing.js';

describe('the shared pulse ring', () => {
  it('takes regions one after the other and refuses what does not fit', () => {
    const ring = new SharedPulseRing(100);
    expect(ring.take(40)).toBe(0);
    expect(ring.take(40)).toBe(40);
    expect(ring.take(30)).toBeUndefined(); // 20 left at the end, nothing freed at the start
    expect(ring.take(0)).toBeUndefined();
    expect(ring.take(101)).toBeUndefined();
    expect(ring.taken).toBe(2);
  });

  it('wraps to the start once the oldest regions are freed, and never overlaps a region still taken', () => {
    const ring = new SharedPulseRing(100);
    ring.take(40); // [0, 40)
    ring.take(40); // [40, 80)
    ring.freeOldest(); // [0, 40) free
    expect(ring.take(30)).toBe(0); // 20 at the end is too little: wraps
    // Wrapped: free is only [32, 40) until [40, 80) goes (regions start 8-byte aligned).
    expect(ring.take(20)).toBeUndefined();
    expect(ring.take(9)).toBeUndefined();
    expect(ring.take(8)).toBe(32);
    expect(ring.take(1)).toBeUndefined();
    ring.freeOldest(); // [40, 80) free: free is [40, 100)
    expect(ring.take(60)).toBe(40);
    ring.freeOldest();
    ring.freeOldest();
    ring.freeOldest();
    expect(ring.taken).toBe(0);
    expect(ring.take(100)).toBe(0);
  });

  it('checks regions against each other over a long run of taking and freeing', () => {
    const ring = new SharedPulseRing(1000);
    const held: Array<[number, number]> = [];
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    let taken = 0;
    for (let step = 0; step < 20_000; step++) {
      if (held.length > 0 && random(3) === 0) {
        ring.freeOldest();
        held.shift();
        continue;
      }
      const size = 1 + random(300);
      const at = ring.take(size);
      if (at === undefined) continue;
      taken++;
      expect(at + size).toBeLessThanOrEqual(1000);
      expect(at % 8).toBe(0);
      for (const [start, end] of held) expect(at + size <= start || at >= end, `[${at}, ${at + size}) overlaps [${start}, ${end})`).toBe(true);
      held.push([at, at + size]);
    }
    expect(taken).toBeGreaterThan(5_000);
  });

  it('frees the regions of the pulses the thread acked, pulses sent beside the ring counted too', () => {
    const ring = new SharedPulseRing(100);
    ring.take(40); // pulse 0, in the ring
    ring.sentPulse();
    ring.sentPulse(); // pulse 1, beside it
    ring.take(40); // pulse 2
    ring.sentPulse();
    ring.ackedPulses(2); // pulses 0 and 1
    expect(ring.taken).toBe(1);
    expect(ring.take(40)).toBe(0); // [0, 40) is free again; [40, 80) is not
    ring.sentPulse();
    ring.ackedPulses(1); // pulse 2
    expect(ring.taken).toBe(1);
    ring.ackedPulses(5); // more than were sent: only the one left
    expect(ring.taken).toBe(0);
  });

  it('drops the region taken last', () => {
    const ring = new SharedPulseRing(100);
    ring.take(60);
    ring.take(30);
    ring.dropNewest();
    expect(ring.take(36)).toBe(64); // [64, 100) is free again (aligned after [0, 60))
  });

  it('gives a ring back for the next acquisition, empty', () => {
    const ring = takeSharedPulseRing(4096);
    ring.take(100);
    returnSharedPulseRing(ring);
    const again = takeSharedPulseRing(4096);
    expect(again).toBe(ring);
    expect(again.taken).toBe(0);
    expect(takeSharedPulseRing(4096)).not.toBe(ring);
  });
});
