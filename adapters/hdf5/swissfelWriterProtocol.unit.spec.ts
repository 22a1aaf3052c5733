import { describe, expect, it } from 'vitest';
import { DataHeaderCache, decodeMessage } from '../bsread/bsreadCodec.js';
import { encodeDataHeader, encodeMessage, withDefaults } from '../bsread/bsreadEncoder.js';
import type { BsreadChannelConfig, BsreadMessage, BsreadValue } from '../bsread/bsreadMessage.js';
import { BsreadValues, COPY_MAX_BYTES } from '../bsread/bsreadValues.js';
import { SharedPulseRing } from './sharedPulseRing.js';
import { packPulse, RECYCLE_MIN_BYTES, unpackPulse, type PackedPulse } from './swissfelWriterProtocol.js';

const float64 = (x: number): Uint8Array => new Uint8Array(new Float64Array([x]).buffer);
const readFloat64 = (bytes: Uint8Array): number => new Float64Array(bytes.slice().buffer)[0]!;

const pattern = (length: number, seed: number): Uint8Array => {
  const out = new Uint8Array(length);
  for (let j = 0; j < length; j++) out[j] = (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(j + 1, 0x85ebca6b)) >>> 24;
  return out;
};

const message = (channels: readonly BsreadChannelConfig[], values: readonly BsreadValue[], pulseId = 1000): BsreadMessage => ({
  pulseId,
  globalTimestamp: { sec: 1_700_000_000 + pulseId, ns: 123_456_789 },
  hash: `hash-${channels.length}`,
  channels,
  values: BsreadValues.from(values),
  wireBytes: 4242 + pulseId,
});

/** 200 scalars as a machine's beam-synchronous channels are: some without value or timestamp. */
const scalarPulse = (pulseId: number, count = 200): { message: BsreadMessage; numbers: Array<number | null> } => {
  const channels = Array.from({ length: count }, (_, i) => withDefaults({ name: `SCALAR-${i}`, type: 'float64' }));
  const numbers = channels.map((_, i) => (i % 7 === 3 ? null : pulseId * 1000 + i * 1.5 + 0.25));
  const values = numbers.map((x, i) => ({
    bytes: x === null ? null : float64(x),
    timestamp: i % 5 === 2 ? null : { sec: 1_700_000_000 + i, ns: pulseId + i * 1000 + 7 },
  }));
  return { message: message(channels, values, pulseId), numbers };
};

const ringOf = (ring: SharedPulseRing) => ({ buffer: ring.buffer, take: (bytes: number) => ring.take(bytes) });

/** The pulse as the writer thread receives it: cloned, its buffers moved there. */
const postedTo = (pulse: PackedPulse, transfer: ArrayBuffer[]): PackedPulse => structuredClone(pulse, { transfer });

const sameValue = (a: BsreadValue, b: BsreadValue): boolean =>
  (a.bytes === null ? b.bytes === null : b.bytes !== null && Buffer.compare(a.bytes, b.bytes) === 0) &&
  (a.timestamp === null ? b.timestamp === null : b.timestamp !== null && a.timestamp.sec === b.timestamp.sec && a.timestamp.ns === b.timestamp.ns);

const expectSameMessage = (got: BsreadMessage, sent: BsreadMessage, sentValues: readonly BsreadValue[]): void => {
  expect(got.pulseId).toBe(sent.pulseId);
  expect(got.globalTimestamp).toEqual(sent.globalTimestamp);
  expect(got.hash).toBe(sent.hash);
  expect(got.wireBytes).toBe(sent.wireBytes);
  expect(got.values.length).toBe(sentValues.length);
  // The channels whose value or timestamp came back different (a diff of 64 KiB arrays would take
  // vitest half a minute).
  const differing = sentValues.flatMap((v, i) => (sameValue(got.values.at(i), v) ? [] : [i]));
  expect(differing).toEqual([]);
};

/** The values as they are now, copied: the message's own storage may change after packing. */
const snapshot = (values: BsreadValues): BsreadValue[] => values.toArray().map((v) => ({ bytes: v.bytes?.slice() ?? null, timestamp: v.timestamp }));

const sumOfLengths = (values: readonly BsreadValue[]): number => values.reduce((sum, v) => sum + (v.bytes?.byteLength ?? 0), 0);

describe('packing a pulse for the writer thread', () => {
  it('puts a pulse of 200 scalars in the shared ring, nothing to transfer, and gets it back whole', () => {
    const ring = new SharedPulseRing(1 << 20);
    const { message: sent, numbers } = scalarPulse(7);
    const sentValues = snapshot(sent.values);
    const { pulse, transfer, bytes } = packPulse(sent, 3, true, undefined, ringOf(ring));

    expect(pulse.ringAt).toBeDefined();
    expect(transfer).toEqual([]);
    expect(pulse.data).toBeUndefined();
    expect(pulse.channels).toBe(sent.channels);
    expect(bytes).toBe(sumOfLengths(sentValues));

    // The message's own bytes may be reused as soon as packPulse returns: the ring has a copy.
    sent.values.data.fill(0);
    sent.values.stamps.fill(0);
    const got = unpackPulse(postedTo(pulse, transfer), sent.channels, ring.buffer);
    expectSameMessage(got, sent, sentValues);
    expect(got.values.data.buffer === ring.buffer).toBe(true);
    numbers.forEach((x, i) => expect(x === null ? got.values.bytes(i) : readFloat64(got.values.bytes(i)!)).toBe(x));

    // A pulse further on in the ring: read where it was put, and the one before left as it was.
    const next = scalarPulse(9);
    const nextValues = snapshot(next.message.values);
    const packedNext = packPulse(next.message, 3, false, undefined, ringOf(ring));
    expect(packedNext.pulse.ringAt).toBeGreaterThan(pulse.ringAt!);
    expectSameMessage(unpackPulse(packedNext.pulse, next.message.channels, ring.buffer), next.message, nextValues);
    expectSameMessage(unpackPulse(pulse, sent.channels, ring.buffer), sent, sentValues);
  });

  it('without a ring, packs the pulse into buffers of its own, all three transferred', () => {
    const { message: sent, numbers } = scalarPulse(8);
    const sentValues = snapshot(sent.values);
    const { pulse, transfer, bytes } = packPulse(sent, 3, false);

    expect(pulse.ringAt).toBeUndefined();
    expect(pulse.channels).toBeUndefined();
    expect(pulse.data).toBeInstanceOf(ArrayBuffer);
    expect(pulse.offsets).toBeInstanceOf(Int32Array);
    expect(pulse.timestamps).toBeInstanceOf(Float64Array);
    expect(transfer).toHaveLength(3);
    expect(transfer).toContain(pulse.data);
    expect(transfer).toContain(pulse.offsets!.buffer);
    expect(transfer).toContain(pulse.timestamps!.buffer);
    expect(bytes).toBe(sumOfLengths(sentValues));

    const got = unpackPulse(postedTo(pulse, transfer), sent.channels);
    expectSameMessage(got, sent, sentValues);
    numbers.forEach((x, i) => expect(x === null ? got.values.bytes(i) : readFloat64(got.values.bytes(i)!)).toBe(x));
    // Transferring must not have taken the message's own storage (a slab other pulses share).
    expect(sent.values.toArray()).toEqual(sentValues);
  });

  describe.each([
    ['in the ring', true],
    ['without a ring', false],
  ])('%s', (_, inRing) => {
    it('copies small values and big views, and passes a value already in shared memory as it is', () => {
      const channels = [
        withDefaults({ name: 'SCALAR', type: 'float64' }),
        withDefaults({ name: 'NAME', type: 'string' }),
        withDefaults({ name: 'IMAGE', type: 'uint8', shape: [64, 64] }),
        withDefaults({ name: 'SHARED-WAVE', type: 'float64', shape: [200] }),
        withDefaults({ name: 'MISSING', type: 'int32' }),
        withDefaults({ name: 'WAVE', type: 'float32', shape: [500] }),
      ];
      // The image is cut out of a larger read buffer at an odd offset, as a received one is.
      const image = new Uint8Array(pattern(5000, 1).buffer, 33, 4096);
      const inShared = new Uint8Array(new SharedArrayBuffer(2000), 8, 1600);
      inShared.set(pattern(1600, 2));
      const sentValues: BsreadValue[] = [
        { bytes: float64(2.5), timestamp: { sec: 10, ns: 1 } },
        { bytes: new TextEncoder().encode('hello'), timestamp: null },
        { bytes: image, timestamp: { sec: 10, ns: 3 } },
        { bytes: inShared, timestamp: { sec: 10, ns: 4 } },
        { bytes: null, timestamp: { sec: 10, ns: 5 } },
        // A second big view: each goes after the one before, not over it.
        { bytes: pattern(2000, 3), timestamp: null },
      ];
      expect(inShared.byteLength).toBeGreaterThan(COPY_MAX_BYTES);
      const sent = message(channels, sentValues);
      const ring = new SharedPulseRing(1 << 16);
      const { pulse, bytes } = packPulse(sent, 1, true, undefined, inRing ? ringOf(ring) : undefined);

      expect(pulse.ringAt !== undefined).toBe(inRing);
      expect(pulse.shared).toEqual([null, null, null, inShared, null, null]);
      expect(pulse.shared![3]).toBe(inShared);
      // The shared value's 1600 bytes are not in the values' block: only the copied ones are.
      expect(pulse.dataBytes).toBe(8 + 5 + 4096 + 2000);
      expect(bytes).toBe(8 + 5 + 4096 + 1600 + 2000);

      const got = unpackPulse(pulse, channels, ring.buffer);
      expectSameMessage(got, sent, sentValues);
      expect(got.values.bytes(3)).toBe(inShared);
      expect(got.values.bytes(2)).not.toBe(image);
      expect(got.values.bytes(2)!.buffer === (inRing ? ring.buffer : pulse.data)).toBe(true);
    });

    it('sends a selection of the channels as exactly those values, in that order', () => {
      const all = Array.from({ length: 10 }, (_, i) => withDefaults({ name: `C${i}`, type: i === 4 ? 'uint8' : 'float64', shape: i === 4 ? [3000] : [1] }));
      const allValues: BsreadValue[] = all.map((_, i) => ({
        bytes: i === 6 ? null : i === 4 ? pattern(3000, 4) : float64(i + 0.5),
        timestamp: i === 2 ? null : { sec: 100 + i, ns: i },
      }));
      const whole = message(all, allValues);
      const indices = [7, 2, 9, 4, 2, 6, 0];
      const sent: BsreadMessage = { ...whole, channels: indices.map((i) => all[i]!), values: whole.values.select(indices) };
      const sentValues = indices.map((i) => allValues[i]!);
      const ring = new SharedPulseRing(1 << 16);

      const { pulse, transfer, bytes } = packPulse(sent, 2, true, undefined, inRing ? ringOf(ring) : undefined);
      expect(pulse.ringAt !== undefined).toBe(inRing);
      expect(bytes).toBe(sumOfLengths(sentValues));

      const got = unpackPulse(postedTo(pulse, transfer), sent.channels, ring.buffer);
      expectSameMessage(got, sent, sentValues);
    });
  });

  it('falls back to buffers of its own for a pulse the ring has no room for, and keeps the pulse before intact', () => {
    const first = scalarPulse(1, 20);
    const second = scalarPulse(2, 20);
    const firstValues = snapshot(first.message.values);
    const secondValues = snapshot(second.message.values);
    // 20 scalars: 480 bytes of timestamps and offsets and 8 per value; room for one pulse only.
    const ring = new SharedPulseRing(1024);

    const a = packPulse(first.message, 1, true, undefined, ringOf(ring));
    ring.sentPulse();
    const b = packPulse(second.message, 1, false, undefined, ringOf(ring));
    ring.sentPulse();

    expect(a.pulse.ringAt).toBeDefined();
    expect(a.transfer).toEqual([]);
    expect(b.pulse.ringAt).toBeUndefined();
    expect(b.transfer).toHaveLength(3);
    expect(b.bytes).toBe(sumOfLengths(secondValues));

    expectSameMessage(unpackPulse(postedTo(b.pulse, b.transfer), second.message.channels, ring.buffer), second.message, secondValues);
    expectSameMessage(unpackPulse(postedTo(a.pulse, a.transfer), first.message.channels, ring.buffer), first.message, firstValues);

    // Full is no lasting state: once the first pulse is acked, the ring takes pulses again.
    ring.ackedPulses(1);
    expect(packPulse(second.message, 1, false, undefined, ringOf(ring)).pulse.ringAt).toBeDefined();
  });

  it('fills a buffer handed back by the thread for a big pulse, and asks for none for a small one', () => {
    const channels = [withDefaults({ name: 'SCALAR' }), withDefaults({ name: 'IMAGE', type: 'uint8', shape: [RECYCLE_MIN_BYTES + 1] })];
    const sentValues: BsreadValue[] = [
      { bytes: float64(1.25), timestamp: { sec: 1, ns: 2 } },
      { bytes: pattern(RECYCLE_MIN_BYTES + 1, 9), timestamp: null },
    ];
    const sent = message(channels, sentValues);
    const asked: number[] = [];
    let handedBack: ArrayBuffer | undefined;
    const reuse = (bytes: number): ArrayBuffer => {
      asked.push(bytes);
      // Left over from the pulse it carried before: all of it must be overwritten.
      handedBack = new Uint8Array(bytes).fill(0xaa).buffer;
      return handedBack;
    };

    const { pulse, transfer } = packPulse(sent, 1, true, reuse);
    expect(asked).toEqual([8 + RECYCLE_MIN_BYTES + 1]);
    // Compared by identity: a failing toBe on 64 KiB buffers prints their diff, for a minute.
    expect(pulse.data === handedBack).toBe(true);
    expect(transfer.includes(handedBack!)).toBe(true);
    expectSameMessage(unpackPulse(pulse, channels), sent, sentValues);

    packPulse(scalarPulse(3).message, 1, true, reuse);
    expect(asked).toHaveLength(1);
  });

  it('refuses a pulse that does not fit what the thread knows', () => {
    const ring = new SharedPulseRing(1 << 16);
    const { message: sent } = scalarPulse(4, 10);
    const inRing = packPulse(sent, 1, true, undefined, ringOf(ring)).pulse;
    expect(() => unpackPulse(inRing, sent.channels)).toThrow(/shared ring/);
    const own = packPulse(sent, 1, true).pulse;
    expect(() => unpackPulse(own, sent.channels.slice(1))).toThrow(/10 values for 9 channels/);
    // In the ring too: the count travels with the pulse, not only as the length of its offsets.
    const again = packPulse(sent, 1, true, undefined, ringOf(ring)).pulse;
    expect(again.ringAt).toBeDefined();
    expect(() => unpackPulse(again, sent.channels.slice(1), ring.buffer)).toThrow(/10 values for 9 channels/);
    expect(() => packPulse({ ...sent, channels: sent.channels.slice(1) }, 1, true)).toThrow(/10 values for 9 channels/);
  });

  it('reads back pulses the decoder made, packed one after the other into a ring that wraps while older pulses are unread', () => {
    // Odd sizes everywhere: a region's end is rarely a multiple of 8, so every next region is aligned by the ring.
    const header = encodeDataHeader([
      { name: 'BE-INT32', type: 'int32', shape: [3], encoding: 'big' },
      { name: 'TEXT', type: 'string' },
      { name: 'U8', type: 'uint8', shape: [5] },
      { name: 'WAVE', type: 'float32', shape: [700] },
      { name: 'Z', type: 'float64', compression: 'lz4' },
    ]);
    const cache = new DataHeaderCache();
    const sentAt = (p: number): { message: BsreadMessage; values: BsreadValue[] } => {
      // encodeMessage takes little-endian elements and swaps them for a big-endian channel.
      const be = Buffer.alloc(12);
      for (let k = 0; k < 3; k++) be.writeInt32LE(p * 10 + k - 7, 4 * k);
      const text = Buffer.from('x'.repeat(p % 13) + `pulse ${p}`, 'utf8');
      const wave = Buffer.from(pattern(2800, p));
      const parts = encodeMessage({
        header,
        pulseId: p,
        globalTimestamp: { sec: 1_700_000_000, ns: p },
        values: [be, text, p % 4 === 0 ? null : pattern(5, p), wave, float64(p / 3)],
      });
      const message = decodeMessage(parts, cache);
      return { message, values: snapshot(message.values) };
    };
    const ring = new SharedPulseRing(16 * 1024);
    const held: Array<{ pulse: PackedPulse; message: BsreadMessage; values: BsreadValue[] }> = [];
    let wrapped = 0;
    let last = -1;
    for (let p = 1; p <= 60; p++) {
      const { message: m, values } = sentAt(p);
      const packed = packPulse(m, 1, true, undefined, ringOf(ring));
      expect(packed.pulse.ringAt).toBeDefined();
      expect(packed.pulse.ringAt! % 8).toBe(0);
      if (packed.pulse.ringAt! < last) wrapped++;
      last = packed.pulse.ringAt!;
      ring.sentPulse();
      held.push({ pulse: packed.pulse, message: m, values });
      // The thread reads (and acks) two pulses behind: every pulse still held reads back whole.
      for (const h of held) expectSameMessage(unpackPulse(h.pulse, h.message.channels, ring.buffer), h.message, h.values);
      if (held.length > 2) {
        held.shift();
        ring.ackedPulses(1);
      }
    }
    expect(wrapped).toBeGreaterThan(3);
    // The big-endian channel went over the wire swapped and comes back as the numbers sent.
    const { message: m } = sentAt(5);
    const be = Buffer.from(unpackPulse(packPulse(m, 1, true).pulse, m.channels).values.bytes(0)!);
    expect([be.readInt32LE(0), be.readInt32LE(4), be.readInt32LE(8)]).toEqual([43, 44, 45]);
  });

  it('gathers only the selected values of a selection, so a pulse takes no more of the ring than it carries', () => {
    const { message: all, numbers } = scalarPulse(9, 200);
    const picked = [150, 3, 77];
    const selected = { ...all, channels: picked.map((i) => all.channels[i]!), values: all.values.select(picked) };
    const ring = new SharedPulseRing(1 << 16);
    const packed = packPulse(selected, 1, true, undefined, ringOf(ring));
    const carried = picked.filter((i) => numbers[i] !== null).length * 8;
    expect(packed.bytes).toBe(carried);
    expect(packed.pulse.dataBytes).toBe(carried);
    const got = unpackPulse(packed.pulse, selected.channels, ring.buffer);
    expect(picked.map((_, k) => (got.values.bytes(k) === null ? null : readFloat64(got.values.bytes(k)!)))).toEqual(picked.map((i) => numbers[i]));
  });
});
