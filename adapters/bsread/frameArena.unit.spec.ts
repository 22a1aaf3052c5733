import { describe, expect, it } from 'vitest';
import { createFrameArena } from './frameArena.js';
import { createFramePool } from './framePool.js';

describe('the frame arena', () => {
  it('carves buffers out of its memory once that memory is resident, and knows them', async () => {
    const arena = createFrameArena(3 * 4096, 2 * 4096);
    await arena.ready;
    expect(arena.counters()).toMatchObject({ bytes: 3 * 4096, residentBytes: 3 * 4096, failed: null });
    const a = arena.carve(4000)!;
    const b = arena.carve(4000)!;
    expect(a.buffer).toBe(b.buffer); // both in the first chunk
    expect(b.byteOffset).toBe(4000); // 8-byte aligned after a
    const c = arena.carve(4000)!; // no room left in the first chunk: the second
    expect(c.buffer).not.toBe(a.buffer);
    expect(arena.carve(4000)).toBeUndefined(); // full
    expect(arena.carve(3 * 4096)).toBeUndefined(); // bigger than a chunk
    for (const x of [a, b, c]) expect(arena.holds(x)).toBe(true);
    expect(arena.holds(Buffer.from(new SharedArrayBuffer(4000)))).toBe(false);
    expect(arena.counters()).toMatchObject({ carved: 3, carvedBytes: 12_000 });
  });

  it("lets the pool keep its buffers whatever the pool's bound, so they never leave circulation", async () => {
    const arena = createFrameArena(4 * 4096, 4 * 4096);
    await arena.ready;
    const pool = createFramePool({ minBytes: 16, maxSpareBytes: 1, arena });
    const carved = [pool.take(4096), pool.take(4096), pool.take(4096)];
    for (const b of carved) expect(arena.holds(b)).toBe(true);
    for (const b of carved) pool.give(b);
    // Over the bound of 1 byte, yet kept: dropping them would free nothing and cost new memory.
    expect(pool.counters()).toMatchObject({ returned: 3, discarded: 0, residentSpareBytes: 3 * 4096, spareBytes: 0 });
    const again = [pool.take(4096), pool.take(4096), pool.take(4096)];
    expect(new Set(again)).toEqual(new Set(carved));
    // Memory of its own is still bounded: the arena has room for one more, then new buffers come.
    pool.take(4096);
    const outside = pool.take(4096);
    expect(arena.holds(outside)).toBe(false);
    pool.give(outside);
    expect(pool.counters()).toMatchObject({ discarded: 1, spareBytes: 0 });
  });
});
