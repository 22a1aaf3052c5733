import { describe, expect, it } from 'vitest';
import { createFramePool } from './framePool.js';

describe('the frame pool', () => {
  it('hands a buffer given back out again, for a frame of its size', () => {
    const pool = createFramePool({ minBytes: 16 });
    const a = pool.take(100);
    expect(a.length).toBe(100);
    expect(pool.isOut(a)).toBe(true);
    pool.give(a);
    expect(pool.isOut(a)).toBe(false);
    expect(pool.take(200)).not.toBe(a);
    expect(pool.take(100)).toBe(a);
    expect(pool.counters()).toMatchObject({ allocated: 2, reused: 1, returned: 1, spareBytes: 0 });
  });

  it('ignores a buffer given twice or never handed out, so no two frames share memory', () => {
    const pool = createFramePool({ minBytes: 16 });
    const a = pool.take(100);
    pool.give(a);
    pool.give(a);
    pool.give(Buffer.alloc(100));
    expect(pool.counters()).toMatchObject({ returned: 1, ignored: 2 });
    const first = pool.take(100);
    const second = pool.take(100);
    expect(first).toBe(a);
    expect(second).not.toBe(a);
  });

  it('keeps at most maxSpareBytes of spares, making room for a new size first', () => {
    const pool = createFramePool({ minBytes: 16, maxSpareBytes: 250 });
    const small = [pool.take(100), pool.take(100)];
    const big = [pool.take(150), pool.take(150)];
    for (const b of small) pool.give(b);
    expect(pool.counters().spareBytes).toBe(200);
    pool.give(big[0]!); // the 100-byte spares go to make room
    expect(pool.counters()).toMatchObject({ spareBytes: 150, discarded: 2 });
    pool.give(big[1]!); // 300 > 250 and nothing else to drop
    expect(pool.counters()).toMatchObject({ spareBytes: 150, discarded: 3 });
    expect(pool.take(100)).not.toBe(small[0]);
  });
});
