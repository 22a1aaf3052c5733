import { describe, expect, it } from 'vitest';
import { createFramePool } from './framePool.js';
import { createFrameArena } from './frameArena.js';
import { isFramePinned, pinFrame, whenFrameUnpinned } from './framePins.js';

describe('frame pins', () => {
  it('a buffer given back while pinned is handed out again only after its last pin goes', () => {
    const pool = createFramePool({ minBytes: 16 });
    const a = pool.take(100);
    const unpinWriter = pinFrame(a);
    const unpinOther = pinFrame(a);
    pool.give(a);
    expect(pool.counters()).toMatchObject({ givenWhilePinned: 1, returned: 0 });
    expect(pool.take(100)).not.toBe(a);
    unpinWriter();
    unpinWriter(); // a second call removes no other pin
    expect(isFramePinned(a)).toBe(true);
    expect(pool.take(100)).not.toBe(a);
    unpinOther();
    expect(isFramePinned(a)).toBe(false);
    expect(pool.counters()).toMatchObject({ returned: 1 });
    expect(pool.take(100)).toBe(a);
  });

  it('an unpinned buffer is freed at once', () => {
    let freed = 0;
    expect(whenFrameUnpinned(new Uint8Array(8), () => freed++)).toBe(true);
    expect(freed).toBe(1);
  });

  it('pooled buffers are shared memory, so a writer thread reads them without a copy', () => {
    expect(createFramePool({ minBytes: 16 }).take(64).buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(createFramePool({ minBytes: 16, shared: false }).take(64).buffer).not.toBeInstanceOf(SharedArrayBuffer);
  });
  it('buffers carved from one shared memory are pinned each on its own range', () => {
    const memory = new SharedArrayBuffer(300);
    const a = Buffer.from(memory, 0, 100);
    const b = Buffer.from(memory, 104, 100);
    const unpinA = pinFrame(a);
    expect(isFramePinned(a)).toBe(true);
    expect(isFramePinned(b)).toBe(false);
    let freedB = 0;
    expect(whenFrameUnpinned(b, () => freedB++)).toBe(true);
    let freedA = 0;
    expect(whenFrameUnpinned(a, () => freedA++)).toBe(false);
    // A view within a pinned buffer (a value after a header) keeps the whole buffer from the pool.
    const unpinPart = pinFrame(a.subarray(10, 20));
    unpinA();
    expect(freedA).toBe(0);
    unpinPart();
    expect(freedA).toBe(1);
  });
});

describe('the frame arena', () => {
  it('carves pool buffers out of resident chunks once they are ready, aligned, never across chunks', async () => {
    const arena = createFrameArena(3 * 1024, 1024);
    await arena.ready;
    expect(arena.counters()).toMatchObject({ bytes: 3072, residentBytes: 3072, failed: null });
    const pool = createFramePool({ minBytes: 16, arena });
    const first = pool.take(500);
    const second = pool.take(500);
    const third = pool.take(500);
    expect(first.buffer).toBe(second.buffer);
    expect(second.byteOffset).toBe(504);
    expect(third.buffer).not.toBe(first.buffer); // 504 + 504 + 500 > 1024: the next chunk
    expect(pool.take(2000).buffer.byteLength).toBe(2000); // bigger than a chunk: its own memory
    expect(arena.counters()).toMatchObject({ carved: 3, carvedBytes: 1500 });
  });
});
