import { describe, expect, it } from 'vitest';
import { isDaqflowError } from '../../events/errors.js';
import type { BsreadChannelConfig, BsreadMessage } from './bsreadMessage.js';
import { createRingBuffer, isPulseGoneError, type PulseGoneError } from './ringBuffer.js';
import { BsreadValues } from './bsreadValues.js';

const channels: readonly BsreadChannelConfig[] = [
  { name: 'X', type: 'float64', shape: [1], encoding: 'little', compression: 'none', modulo: 1, offset: 0 },
];

const msg = (pulseId: number, wireBytes = 100): BsreadMessage => ({
  pulseId,
  globalTimestamp: { sec: 1_700_000_000, ns: 0 },
  hash: 'h',
  channels,
  values: BsreadValues.from([{ bytes: new Uint8Array(8), timestamp: null }]),
  wireBytes,
});

const ids = (ms: readonly BsreadMessage[]): number[] => ms.map((m) => m.pulseId);

/** Takes `n` messages from an iterator. */
const take = async (it: AsyncIterator<BsreadMessage>, n: number): Promise<BsreadMessage[]> => {
  const out: BsreadMessage[] = [];
  for (let i = 0; i < n; i++) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
};

const caught = async (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

const caughtSync = (f: () => unknown): unknown => {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
};

/** Resolves after pending microtasks and one macrotask. */
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('createRingBuffer', () => {
  it('refuses bounds that are not positive integers', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      const e = caughtSync(() => createRingBuffer({ maxMessages: bad, maxBytes: 10 }));
      expect(isDaqflowError(e) && e.code === 'VALIDATION_FAILED').toBe(true);
      const f = caughtSync(() => createRingBuffer({ maxMessages: 10, maxBytes: bad }));
      expect(isDaqflowError(f) && f.code === 'VALIDATION_FAILED').toBe(true);
    }
  });

  it('stores in pulse order, finds by pulse id and counts gaps', () => {
    const rb = createRingBuffer({ maxMessages: 10, maxBytes: 10_000 });
    for (const id of [100, 101, 102, 105, 106, 110]) expect(rb.push(msg(id))).toBe('stored');
    expect(rb.get(105)?.pulseId).toBe(105);
    expect(rb.get(103)).toBeUndefined();
    expect(rb.get(99)).toBeUndefined();
    expect(rb.get(111)).toBeUndefined();
    expect(rb.counters()).toEqual({
      received: 6,
      droppedOldest: 0,
      malformed: 0,
      pulseIdGaps: 2 + 3,
      duplicates: 0,
      outOfOrder: 0,
      bytes: 600,
      messages: 6,
      oldestPulseId: 100,
      newestPulseId: 110,
      readers: 0,
      readerLostPulses: 0,
      firstPulseIdEver: 100,
    });
  });

  it('drops duplicates (keeping the first copy) and out-of-order pulses, counting each', () => {
    const rb = createRingBuffer({ maxMessages: 10, maxBytes: 10_000 });
    const first = msg(11);
    rb.push(msg(10));
    rb.push(first);
    rb.push(msg(14));
    expect(rb.push(msg(11))).toBe('duplicate');
    expect(rb.push(msg(14))).toBe('duplicate');
    expect(rb.push(msg(12))).toBe('out_of_order');
    expect(rb.push(msg(3))).toBe('out_of_order');
    expect(rb.get(11)).toBe(first);
    const c = rb.counters();
    expect([c.received, c.messages, c.duplicates, c.outOfOrder, c.pulseIdGaps]).toEqual([7, 3, 2, 2, 2]);
  });

  it('evicts the oldest beyond maxMessages and beyond maxBytes, always keeping the newest', () => {
    const rb = createRingBuffer({ maxMessages: 3, maxBytes: 1_000 });
    for (let id = 1; id <= 5; id++) rb.push(msg(id));
    expect([rb.counters().oldestPulseId, rb.counters().messages, rb.counters().droppedOldest]).toEqual([3, 3, 2]);
    rb.push(msg(6, 900)); // 3 goes for the count; 4:100 + 5:100 + 6:900 = 1100 > 1000: 4 goes
    expect([rb.counters().oldestPulseId, rb.counters().bytes]).toEqual([5, 1000]);
    rb.push(msg(7, 5_000)); // alone above the bound: kept, everything else evicted
    expect(rb.counters()).toMatchObject({ messages: 1, bytes: 5_000, oldestPulseId: 7, newestPulseId: 7, droppedOldest: 6 });
    expect(rb.get(7)?.wireBytes).toBe(5_000);
  });

  it('counts malformed messages reported by the receiver', () => {
    const rb = createRingBuffer({ maxMessages: 3, maxBytes: 1_000 });
    rb.countMalformed();
    rb.countMalformed(4);
    expect(rb.counters().malformed).toBe(5);
  });

  it('reads from a pulse in order, then waits for new ones', async () => {
    const rb = createRingBuffer({ maxMessages: 100, maxBytes: 1e9 });
    for (const id of [1, 2, 4, 5]) rb.push(msg(id));
    const it = rb.read(3);
    expect(ids(await take(it, 2))).toEqual([4, 5]);
    const pending = it.next();
    let settled = false;
    void pending.then(() => (settled = true));
    await tick();
    expect(settled).toBe(false);
    rb.push(msg(9));
    expect((await pending).value?.pulseId).toBe(9);
    await it.return?.();
    expect(rb.counters().readers).toBe(0);
  });

  it('starts a reader in the future and skips everything before its pulse', async () => {
    const rb = createRingBuffer({ maxMessages: 100, maxBytes: 1e9 });
    rb.push(msg(1));
    const it = rb.read(5);
    const got = take(it, 3);
    for (let id = 2; id <= 8; id++) rb.push(msg(id));
    expect(ids(await got)).toEqual([5, 6, 7]);
  });

  it('serves several readers at once, each at its own pace', async () => {
    const rb = createRingBuffer({ maxMessages: 100, maxBytes: 1e9 });
    for (let id = 10; id < 20; id++) rb.push(msg(id));
    const a = rb.read(10);
    const b = rb.read(15);
    const c = rb.read(25);
    expect(ids(await take(a, 3))).toEqual([10, 11, 12]);
    expect(ids(await take(b, 5))).toEqual([15, 16, 17, 18, 19]);
    const cGot = take(c, 2);
    for (let id = 20; id < 30; id++) rb.push(msg(id));
    expect(ids(await cGot)).toEqual([25, 26]);
    expect(ids(await take(a, 2))).toEqual([13, 14]);
    expect(rb.counters().readers).toBe(3);
  });

  it('refuses a start pulse that has already left the buffer with a PULSE_GONE error', () => {
    const rb = createRingBuffer({ maxMessages: 3, maxBytes: 1e9 });
    for (let id = 100; id < 110; id++) rb.push(msg(id));
    const e = caughtSync(() => rb.read(105)) as PulseGoneError;
    expect(isPulseGoneError(e)).toBe(true);
    expect(e.kind).toBe('PULSE_GONE');
    expect(e.code).toBe('WRONG_STATE');
    expect(e.during).toBe('start');
    expect(e.pulseId).toBe(105);
    expect(e.oldestPulseId).toBe(107);
    expect(e.message).toMatch(/pulse 105 has already left the ring buffer \(oldest held: 107/);
    expect(rb.counters().readers).toBe(0);
    // the pulse right after the last evicted one is still served
    expect(() => rb.read(107)).not.toThrow();
  });

  it('refuses a start pulse before the first pulse ever received', () => {
    const rb = createRingBuffer({ maxMessages: 3, maxBytes: 1e9 });
    rb.push(msg(1000));
    const e = caughtSync(() => rb.read(999));
    expect(isPulseGoneError(e) && e.during === 'start' && /before the first pulse/.test(e.message)).toBe(true);
  });

  it('serves a start pulse that was missing from the stream, not evicted, from the next held one', async () => {
    const rb = createRingBuffer({ maxMessages: 3, maxBytes: 1e9 });
    for (const id of [1, 2, 10, 11]) rb.push(msg(id)); // 1 evicted; 3..9 never came
    expect(ids(await take(rb.read(5), 2))).toEqual([10, 11]);
  });

  it('fails a slow reader naming the first lost pulse, after what it could still read', async () => {
    const rb = createRingBuffer({ maxMessages: 4, maxBytes: 1e9 });
    for (let id = 1; id <= 4; id++) rb.push(msg(id));
    const it = rb.read(1);
    expect(ids(await take(it, 2))).toEqual([1, 2]);
    for (let id = 5; id <= 8; id++) rb.push(msg(id)); // evicts 3 and 4 before they are read
    const e = (await caught(it.next())) as PulseGoneError;
    expect(isPulseGoneError(e)).toBe(true);
    expect(e.during).toBe('read');
    expect(e.pulseId).toBe(3);
    expect(e.message).toMatch(/pulse 3 was evicted before it was read/);
    expect((await it.next()).done).toBe(true);
    expect(rb.counters().readers).toBe(0);
  });

  it('with onLost, an overtaken reader goes on from the oldest pulse held and is told what it lost, each loss once', async () => {
    const rb = createRingBuffer({ maxMessages: 4, maxBytes: 1e9 });
    for (let id = 1; id <= 4; id++) rb.push(msg(id));
    const told: Array<{ from: number; to: number; count: number; before: number[] }> = [];
    const read: number[] = [];
    const it = rb.read(1, { onLost: (lost) => told.push({ ...lost, before: [...read] }) });
    read.push(...ids(await take(it, 2)));
    for (let id = 5; id <= 8; id++) rb.push(msg(id)); // evicts 3 and 4 unread
    rb.push(msg(10)); // evicts 5 unread; 9 never came
    read.push(...ids(await take(it, 2)));
    expect(read).toEqual([1, 2, 6, 7]);
    // Told before the first message after the loss, once for the stretch 3..5.
    expect(told).toEqual([{ from: 3, to: 5, count: 3, before: [1, 2] }]);
    for (let id = 11; id <= 14; id++) rb.push(msg(id)); // evicts 8 and 10 unread
    read.push(...ids(await take(it, 1)));
    expect(read.at(-1)).toBe(11);
    expect(told.slice(1)).toEqual([{ from: 8, to: 10, count: 2, before: [1, 2, 6, 7] }]);
    expect(rb.counters().readerLostPulses).toBe(5);
    expect(rb.counters().readers).toBe(1);
  });

  it('counts the pulse a reader without onLost was failed for', async () => {
    const rb = createRingBuffer({ maxMessages: 2, maxBytes: 1e9 });
    rb.push(msg(1));
    const it = rb.read(1);
    for (let id = 2; id <= 5; id++) rb.push(msg(id));
    expect(isPulseGoneError(await caught(it.next()))).toBe(true);
    expect(rb.counters().readerLostPulses).toBe(1);
  });

  it('does not fail a future reader for evicted pulses it never wanted', async () => {
    const rb = createRingBuffer({ maxMessages: 2, maxBytes: 1e9 });
    rb.push(msg(1));
    const it = rb.read(10);
    for (let id = 2; id <= 12; id++) rb.push(msg(id));
    // 10 was evicted too: it fails at 10, not at the early pulses
    const e = (await caught(it.next())) as PulseGoneError;
    expect(e.pulseId).toBe(10);
    const late = rb.read(12);
    expect(ids(await take(late, 1))).toEqual([12]);
  });

  it('ends readers after close once the held messages are read', async () => {
    const rb = createRingBuffer({ maxMessages: 10, maxBytes: 1e9 });
    rb.push(msg(1));
    rb.push(msg(2));
    const it = rb.read(1);
    const waiting = rb.read(3);
    const pending = waiting.next();
    rb.close();
    expect(rb.push(msg(3))).toBe('closed');
    const got: number[] = [];
    for await (const m of it) got.push(m.pulseId);
    expect(got).toEqual([1, 2]);
    expect((await pending).done).toBe(true);
  });

  it('rejects a pending and later next() with the abort reason', async () => {
    const rb = createRingBuffer({ maxMessages: 10, maxBytes: 1e9 });
    const ac = new AbortController();
    const it = rb.read(0, { signal: ac.signal });
    const pending = it.next();
    ac.abort(new Error('acquisition killed'));
    expect(String(await caught(pending))).toMatch(/acquisition killed/);
    expect(String(await caught(it.next()))).toMatch(/acquisition killed/);
    expect(rb.counters().readers).toBe(0);
    const aborted = new AbortController();
    aborted.abort(new Error('already'));
    expect(String(caughtSync(() => rb.read(0, { signal: aborted.signal })))).toMatch(/already/);
  });

  it('serves overlapping next() calls in order', async () => {
    const rb = createRingBuffer({ maxMessages: 10, maxBytes: 1e9 });
    const it = rb.read(0);
    const ps = [it.next(), it.next(), it.next()];
    rb.push(msg(1));
    rb.push(msg(2));
    rb.push(msg(3));
    expect((await Promise.all(ps)).map((r) => r.value?.pulseId)).toEqual([1, 2, 3]);
  });

  it('break out of for-await releases the reader', async () => {
    const rb = createRingBuffer({ maxMessages: 10, maxBytes: 1e9 });
    for (let id = 1; id <= 5; id++) rb.push(msg(id));
    for await (const m of rb.read(1)) if (m.pulseId === 2) break;
    expect(rb.counters().readers).toBe(0);
  });

  it('refuses a bad pulse id', () => {
    const rb = createRingBuffer({ maxMessages: 10, maxBytes: 1e9 });
    expect(isDaqflowError(caughtSync(() => rb.read(-1)))).toBe(true);
    expect(isDaqflowError(caughtSync(() => rb.push(msg(1.5))))).toBe(true);
  });

  it('keeps up with a long stream and a wrapped circular array', async () => {
    const rb = createRingBuffer({ maxMessages: 7, maxBytes: 1e9 });
    const it = rb.read(0);
    const seen: number[] = [];
    for (let id = 0; id < 1_000; id++) {
      rb.push(msg(id * 2)); // every other pulse: 999 gaps of 1
      const r = await it.next();
      seen.push(r.value?.pulseId ?? -1);
    }
    expect(seen).toEqual(Array.from({ length: 1_000 }, (_, i) => i * 2));
    expect(rb.counters()).toMatchObject({ messages: 7, droppedOldest: 993, pulseIdGaps: 999, oldestPulseId: 1986 });
    expect(rb.get(1990)?.pulseId).toBe(1990);
  });

  describe('release (onRelease)', () => {
    const released = (): { ids: number[]; onRelease: (m: BsreadMessage) => void } => {
      const ids: number[] = [];
      return { ids, onRelease: (m) => ids.push(m.pulseId) };
    };

    it('releases an evicted message nobody reads, and one a reader has moved past', async () => {
      const r = released();
      const rb = createRingBuffer({ maxMessages: 2, maxBytes: 1e9, onRelease: r.onRelease });
      const it = rb.read(1);
      rb.push(msg(1));
      rb.push(msg(2));
      expect((await it.next()).value?.pulseId).toBe(1);
      expect((await it.next()).value?.pulseId).toBe(2); // done with 1
      rb.push(msg(3)); // evicts 1
      expect(r.ids).toEqual([1]);
    });

    it('keeps an evicted message while a reader still holds it, until its next next()', async () => {
      const r = released();
      const rb = createRingBuffer({ maxMessages: 2, maxBytes: 1e9, onRelease: r.onRelease });
      rb.push(msg(1));
      const it = rb.read(1);
      const first = await it.next(); // holds 1, as an acquisition awaiting its file's open
      expect(first.value?.pulseId).toBe(1);
      rb.push(msg(2));
      rb.push(msg(3)); // evicts 1: still held
      rb.push(msg(4)); // evicts 2: never read by it, so the reader has lost it
      expect(r.ids).toEqual([2]);
      await caught(it.next()); // PULSE_GONE for 2; it let go of 1 on asking
      expect(r.ids).toEqual([2, 1]);
    });

    it('waits for every reader holding the message', async () => {
      const r = released();
      const rb = createRingBuffer({ maxMessages: 1, maxBytes: 1e9, onRelease: r.onRelease });
      rb.push(msg(1));
      const a = rb.read(1);
      const b = rb.read(1);
      await a.next();
      await b.next();
      rb.push(msg(2)); // evicts 1, held by both
      const aNext = a.next();
      await tick();
      expect(r.ids).toEqual([]);
      const bNext = b.next();
      await tick();
      expect(r.ids).toEqual([1]);
      expect([(await aNext).value?.pulseId, (await bNext).value?.pulseId]).toEqual([2, 2]);
    });

    it('never releases a message held by a reader that ended by return() or an abort', async () => {
      const r = released();
      const rb = createRingBuffer({ maxMessages: 1, maxBytes: 1e9, onRelease: r.onRelease });
      rb.push(msg(1));
      const ended = rb.read(1);
      await ended.next();
      await ended.return?.();
      const controller = new AbortController();
      rb.push(msg(2)); // evicts 1: the reader that returned never said it was done with it
      const aborted = rb.read(2, { signal: controller.signal });
      await aborted.next();
      controller.abort(new Error('killed'));
      rb.push(msg(3)); // evicts 2: same for the aborted one
      rb.push(msg(4)); // evicts 3: nobody read it
      expect(r.ids).toEqual([3]);
    });

    it('does not release messages still held in the buffer', () => {
      const r = released();
      const rb = createRingBuffer({ maxMessages: 3, maxBytes: 1e9, onRelease: r.onRelease });
      for (let id = 1; id <= 3; id++) rb.push(msg(id));
      rb.close();
      expect(r.ids).toEqual([]);
    });
  });
});
