import { describe, expect, it } from 'vitest';
import { createFramePool } from './framePool.js';
import { isFramePinned, pinFrame, whenFrameUnpinned } from './framePins.js';

describe('frame pins', () => {
  it('a buffer given back while pinned is handed out again only after its last pin goes', () => {
    const pool = createFramePool({ minBytes: 16 });
    const a = pool.take(100);
    const unpinWriter = pinFrame(a.buffer);
    const unpinOther = pinFrame(a.buffer);
    pool.give(a);
    expect(pool.counters()).toMatchObject({ givenWhilePinned: 1, returned: 0 });
    expect(pool.take(100)).not.toBe(a);
    unpinWriter();
    unpinWriter(); // a second call removes no other pin
    expect(isFramePinned(a.buffer)).toBe(true);
    expect(pool.take(100)).not.toBe(a);
    unpinOther();
    expect(isFramePinned(a.buffer)).toBe(false);
    expect(pool.counters()).toMatchObject({ returned: 1 });
    expect(pool.take(100)).toBe(a);
  });

  it('an unpinned buffer is freed at once', () => {
    const memory = new ArrayBuffer(8);
    let freed = 0;
    expect(whenFrameUnpinned(memory, () => freed++)).toBe(true);
    expect(freed).toBe(1);
  });

  it('pooled buffers are shared memory, so a writer thread reads them without a copy', () => {
    expect(createFramePool({ minBytes: 16 }).take(64).buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(createFramePool({ minBytes: 16, shared: false }).take(64).buffer).not.toBeInstanceOf(SharedArrayBuffer);
  });
});
