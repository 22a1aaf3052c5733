import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { compressSync } from 'lz4-napi';
import { describe, expect, it } from 'vitest';
import { bitshuffleBlock, bitunshuffleBlock } from './bitshuffle.js';
import { DataHeaderCache, decodeMessage } from './bsreadCodec.js';
import { encodeDataHeader, encodeMessage, encodeTimestamp, encodeValue, withDefaults, type BsreadChannelInput } from './bsreadEncoder.js';
import {
  bsreadTypes,
  elementSize,
  hdf5ShapeOf,
  type BsreadByteOrder,
  type BsreadCompression,
  type BsreadType,
  type BsreadValue,
} from './bsreadMessage.js';
import { compressBitshuffleLz4, compressLz4, decompressBitshuffleLz4, decompressLz4 } from './compression.js';
import { BsreadDecodeError, bsreadDecodeReasonList, type BsreadDecodeReason } from './errors.js';

// ---------------------------------------------------------------------------------------------
// Reference definitions, written from the format's description and nothing else.

/** Bitshuffle by definition: bit i of row 8j + b is bit b of byte j of element i. */
const naiveShuffle = (src: Uint8Array, elemSize: number): Uint8Array => {
  const n = src.length / elemSize;
  const rowLen = n / 8;
  const out = new Uint8Array(src.length);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < elemSize; j++) {
      const byte = src[i * elemSize + j]!;
      for (let b = 0; b < 8; b++) {
        if ((byte >> b) & 1) out[(8 * j + b) * rowLen + (i >> 3)]! |= 1 << (i & 7);
      }
    }
  }
  return out;
};

/** A bitshuffle_lz4 payload built by hand: header, blocks of naively shuffled data, raw tail. */
const naiveBitshuffleLz4 = (src: Uint8Array, elemSize: number, blockElements: number): Buffer => {
  const n = src.length / elemSize;
  const header = Buffer.alloc(12);
  header.writeBigUInt64BE(BigInt(src.length), 0);
  header.writeUInt32BE(blockElements * elemSize, 8);
  const pieces: Buffer[] = [header];
  const block = (start: number, count: number): void => {
    const shuffled = naiveShuffle(src.subarray(start * elemSize, (start + count) * elemSize), elemSize);
    const lz4 = compressSync(Buffer.from(shuffled)).subarray(4);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(lz4.length, 0);
    pieces.push(length, lz4);
  };
  let start = 0;
  for (; start + blockElements <= n; start += blockElements) block(start, blockElements);
  const last = n - start - ((n - start) % 8);
  if (last > 0) block(start, last);
  start += last;
  pieces.push(Buffer.from(src.subarray(start * elemSize)));
  return Buffer.concat(pieces);
};

/** Deterministic bytes (xorshift). */
const bytesOf = (length: number, seed: number): Uint8Array => {
  const out = new Uint8Array(length);
  let s = seed | 1;
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
};

/** Bytes that compress: small values with a few random bits, as detector data. */
const compressibleBytes = (length: number, seed: number): Uint8Array => {
  const noise = bytesOf(length, seed);
  return noise.map((v, i) => (i % 2 === 0 ? (v & 0x07) + (i % 64) : 0));
};

const swapCopy = (bytes: Uint8Array, elemSize: number): Uint8Array => {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += elemSize) for (let j = 0; j < elemSize; j++) out[i + j] = bytes[i + elemSize - 1 - j]!;
  return out;
};

const ts = { sec: 1_700_000_000, ns: 123_456_789 };

/** Buffers and Uint8Arrays compare unequal in toEqual: compare plain copies. */
const u8 = (b: Uint8Array | null): Uint8Array | null => (b === null ? null : new Uint8Array(b));
const plain = (values: readonly BsreadValue[]): BsreadValue[] => values.map((v) => ({ bytes: u8(v.bytes), timestamp: v.timestamp }));

const mainHeader = (fields: Record<string, unknown>): Buffer =>
  Buffer.from(JSON.stringify({ htype: 'bsr_m-1.1', pulse_id: 1000, global_timestamp: { sec: ts.sec, ns: ts.ns }, ...fields }));

const dataHeaderBytes = (channels: unknown[]): Buffer => Buffer.from(JSON.stringify({ htype: 'bsr_d-1.1', channels }));
const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

/** A hand-built message: parts from raw JSON and bytes, no encoder involved. */
const rawMessage = (channels: unknown[], valueParts: Uint8Array[], main: Record<string, unknown> = {}): Buffer[] => {
  const dh = dataHeaderBytes(channels);
  return [mainHeader({ hash: md5(dh), ...main }), dh, ...valueParts.map((p) => Buffer.from(p))];
};

const decodeError = (f: () => unknown): BsreadDecodeError => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(BsreadDecodeError);
    return e as BsreadDecodeError;
  }
  throw new Error('expected a BsreadDecodeError, decoded fine');
};

// ---------------------------------------------------------------------------------------------

describe('bitshuffle transpose', () => {
  it('matches a hand-worked vector: one set bit per element lands in the right row', () => {
    // uint16 elements 0..7: element i = 1 << i (low byte), element 0 also has bit 9 (high byte, bit 1).
    const src = new Uint8Array(16);
    for (let i = 0; i < 8; i++) src[2 * i] = 1 << i;
    src[1] = 0b10;
    const out = new Uint8Array(16);
    bitshuffleBlock(src, 0, out, 0, 8, 2);
    // Row r = 8j + b has one byte (n/8 = 1): bit i set iff element i has bit b of byte j.
    const expected = new Uint8Array(16);
    for (let b = 0; b < 8; b++) expected[b] = 1 << b; // row b (byte 0): element b has bit b
    expected[8 + 1] = 0b1; // row 9 (byte 1, bit 1): element 0
    expect(out).toEqual(expected);
    const back = new Uint8Array(16);
    bitunshuffleBlock(out, 0, back, 0, 8, 2);
    expect(back).toEqual(src);
  });

  for (const elemSize of [1, 2, 4, 8]) {
    for (const n of [8, 16, 24, 32, 128, 136, 4096]) {
      it(`equals the definition both ways: ${n} elements of ${elemSize} bytes, aligned and not`, () => {
        const src = bytesOf(n * elemSize, n * 31 + elemSize);
        const shuffled = naiveShuffle(src, elemSize);
        const out = new Uint8Array(src.length);
        bitshuffleBlock(src, 0, out, 0, n, elemSize);
        expect(out).toEqual(shuffled);
        // Aligned source and destination (the word paths), then both at odd offsets (the byte path).
        const back = new Uint8Array(src.length);
        bitunshuffleBlock(shuffled, 0, back, 0, n, elemSize);
        expect(back).toEqual(src);
        const srcOdd = new Uint8Array(src.length + 3);
        srcOdd.set(shuffled, 3);
        const backOdd = new Uint8Array(src.length + 1);
        bitunshuffleBlock(srcOdd, 3, backOdd, 1, n, elemSize);
        expect(backOdd.subarray(1)).toEqual(src);
      });
    }
  }

  it('refuses a block that is not a multiple of 8 elements', () => {
    expect(() => bitunshuffleBlock(new Uint8Array(12), 0, new Uint8Array(12), 0, 6, 2)).toThrow(RangeError);
  });
});

describe('bitshuffle_lz4 and lz4 payloads', () => {
  for (const elemSize of [1, 2, 4, 8]) {
    for (const [n, blockElements] of [
      [5, 16], // only the raw tail
      [8, 16], // one partial block, no tail
      [37, 16], // 2 full blocks, a partial block of 0 (37 - 32 = 5 → 0), tail 5
      [61, 16], // 3 full blocks, partial block of 8, tail 5
      [5000, 1024], // several blocks, partial 904, tail 0
      [4099, 4096], // 1 full block, tail 3
    ] as const) {
      it(`decodes a hand-built payload: ${n} elements of ${elemSize} bytes, blocks of ${blockElements}`, () => {
        const src = compressibleBytes(n * elemSize, n + elemSize);
        const payload = naiveBitshuffleLz4(src, elemSize, blockElements);
        expect(u8(decompressBitshuffleLz4(payload, elemSize, src.length))).toEqual(new Uint8Array(src));
        expect(u8(decompressBitshuffleLz4(payload, elemSize, undefined))).toEqual(new Uint8Array(src));
        // And our encoder writes the same bytes.
        expect(compressBitshuffleLz4(src, elemSize, blockElements)).toEqual(payload);
      });
    }
  }

  it('uses 8 KiB blocks by default, as the Python sender, and writes the header big-endian', () => {
    const src = compressibleBytes(3 * 8192 + 100, 7);
    const payload = compressBitshuffleLz4(src, 2);
    expect(payload.readBigUInt64BE(0)).toBe(BigInt(src.length));
    expect(payload.readUInt32BE(8)).toBe(8192);
    expect(u8(decompressBitshuffleLz4(payload, 2, src.length))).toEqual(new Uint8Array(src));
  });

  it('reads a length of 0 as no value', () => {
    expect(decompressBitshuffleLz4(Buffer.alloc(12), 4, undefined)).toBeNull();
    expect(decompressLz4(Buffer.from([0, 0, 0, 0, 0]), undefined)).toBeNull();
  });

  it('accepts the lz4 length prefix in either byte order', () => {
    const src = compressibleBytes(1000, 3);
    const little = compressLz4(src, 'little');
    const big = compressLz4(src, 'big');
    expect(little.readUInt32LE(0)).toBe(1000);
    expect(big.readUInt32BE(0)).toBe(1000);
    for (const payload of [little, big]) {
      expect(u8(decompressLz4(payload, 1000))).toEqual(new Uint8Array(src));
      expect(u8(decompressLz4(payload, undefined))).toEqual(new Uint8Array(src)); // size unknown: strings, headers
    }
  });

  it('refuses corrupt payloads with COMPRESSED_VALUE', () => {
    const src = compressibleBytes(4000, 5);
    const payload = compressBitshuffleLz4(src, 2, 512);
    const cases: Array<[string, () => unknown]> = [
      ['short header', () => decompressBitshuffleLz4(payload.subarray(0, 10), 2, 4000)],
      ['wrong length for the type', () => decompressBitshuffleLz4(payload, 2, 4002)],
      ['truncated', () => decompressBitshuffleLz4(payload.subarray(0, payload.length - 7), 2, 4000)],
      ['trailing bytes', () => decompressBitshuffleLz4(Buffer.concat([payload, Buffer.from([1, 2])]), 2, 4000)],
      ['odd length', () => decompressBitshuffleLz4(Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 0, 3]), payload.subarray(8)]), 2, undefined)],
      ['zero block size', () => decompressBitshuffleLz4(Buffer.concat([payload.subarray(0, 8), Buffer.alloc(4), payload.subarray(12)]), 2, 4000)],
      ['garbage block', () => decompressBitshuffleLz4(Buffer.concat([payload.subarray(0, 16), Buffer.alloc(payload.length - 16, 0xff)]), 2, 4000)],
      ['huge length', () => decompressBitshuffleLz4(Buffer.concat([Buffer.from([0x7f, 0, 0, 0, 0, 0, 0, 0]), payload.subarray(8)]), 2, undefined)],
      ['lz4 too short', () => decompressLz4(Buffer.from([1, 0]), undefined)],
      ['lz4 wrong size', () => decompressLz4(compressLz4(src), 3999)],
      ['lz4 truncated', () => decompressLz4(compressLz4(src).subarray(0, 20), 4000)],
      ['lz4 absurd prefix', () => decompressLz4(Buffer.from([0xff, 0xff, 0xff, 0x7f, 0x10, 0x41]), undefined)],
    ];
    for (const [name, f] of cases) {
      const e = decodeError(f);
      expect(e.reason, name).toBe('COMPRESSED_VALUE');
    }
  });
});

// ---------------------------------------------------------------------------------------------

/** A deterministic value of a channel: `bytes` little-endian, elements in C order. */
const valueOf = (c: BsreadChannelInput, seed: number): Uint8Array => {
  const type = c.type ?? 'float64';
  if (type === 'string') return new TextEncoder().encode(`${c.name} → ${seed} µs`);
  const elements = (c.shape ?? [1]).reduce((a, b) => a * b, 1);
  return compressibleBytes(elements * elementSize(type), seed);
};

const allTypeChannels = (encoding: BsreadByteOrder, compression: BsreadCompression): BsreadChannelInput[] =>
  bsreadTypes.flatMap((type) => [
    { name: `S:${type}`, type, shape: [1], encoding, compression },
    ...(type === 'string' ? [] : [{ name: `W:${type}`, type, shape: [37], encoding, compression } as BsreadChannelInput]),
    ...(type === 'string' ? [] : [{ name: `I:${type}`, type, shape: [5, 3], encoding, compression } as BsreadChannelInput]),
  ]);

describe('decodeMessage: every type, both byte orders, every compression', () => {
  for (const encoding of ['little', 'big'] as const) {
    for (const compression of ['none', 'bitshuffle_lz4', 'lz4'] as const) {
      it(`${encoding}-endian, ${compression}`, () => {
        const channels = allTypeChannels(encoding, compression);
        const header = encodeDataHeader(channels);
        const values = channels.map((c, i) => valueOf(c, i + 1));
        const parts = encodeMessage({ header, pulseId: 42, globalTimestamp: ts, values });
        const msg = decodeMessage(parts, new DataHeaderCache());
        expect(msg.pulseId).toBe(42);
        expect(msg.globalTimestamp).toEqual(ts);
        expect(msg.hash).toBe(md5(parts[1]!));
        expect(msg.channels).toEqual(channels.map(withDefaults));
        expect(msg.wireBytes).toBe(parts.reduce((a, p) => a + p.length, 0));
        for (let i = 0; i < channels.length; i++) {
          expect(Buffer.from(msg.values.at(i).bytes!), channels[i]!.name).toEqual(Buffer.from(values[i]!));
          expect(msg.values.at(i).timestamp).toEqual(ts);
        }
        // The wire really is in the channel's byte order: an uncompressed multi-byte value is the
        // reversed elements of what was decoded.
        if (compression === 'none') {
          const k = channels.findIndex((c) => c.name === 'W:uint32');
          const wire = parts[2 + 2 * k]!;
          expect(wire).toEqual(Buffer.from(encoding === 'big' ? swapCopy(values[k]!, 4) : values[k]!));
          const tsWire = parts[3 + 2 * k]!;
          expect(encoding === 'big' ? tsWire.readBigUInt64BE(0) : tsWire.readBigUInt64LE(0)).toBe(BigInt(ts.sec));
        }
      });
    }
  }

  it('decodes hand-made big-endian values, copies small values and keeps big little-endian ones as the received bytes', () => {
    const channels = [
      { name: 'BE', type: 'int32', shape: [2], encoding: 'big' },
      { name: 'LE', type: 'uint16', shape: [3, 2], encoding: 'little' },
      { name: 'F', type: 'float64', encoding: 'big' },
      { name: 'WAVE', type: 'uint16', shape: [600], encoding: 'little' },
    ];
    const le = Buffer.from([1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0]);
    const f = Buffer.alloc(8);
    f.writeDoubleBE(-1.5, 0);
    const wave = Buffer.alloc(1200, 7);
    const parts = rawMessage(channels, [
      Buffer.from([0, 0, 1, 2, 0xff, 0xff, 0xff, 0xfe]),
      Buffer.alloc(0),
      le,
      Buffer.alloc(0),
      f,
      Buffer.alloc(0),
      wave,
      Buffer.alloc(0),
    ]);
    const msg = decodeMessage(parts, new DataHeaderCache());
    const be = Buffer.from(msg.values.bytes(0)!);
    expect([be.readInt32LE(0), be.readInt32LE(4)]).toEqual([0x0102, -2]);
    // Small values are copied into the pulse's packed values (bsreadValues.ts), so the ring buffer
    // does not keep the receive buffers they came in; a big one is kept as received.
    expect(Buffer.from(msg.values.bytes(1)!).equals(le)).toBe(true);
    expect(msg.values.bytes(1)!.buffer).not.toBe(parts[4]!.buffer);
    expect(msg.values.bytes(3)).toBe(parts[8]);
    expect(hdf5ShapeOf(msg.channels[1]!)).toEqual([2, 3]); // the wire shape is fastest-varying first
    expect(Buffer.from(msg.values.bytes(2)!).readDoubleLE(0)).toBe(-1.5);
    // The received bytes are left as they were (big-endian values swapped in the copy only).
    expect(parts[2]).toEqual(Buffer.from([0, 0, 1, 2, 0xff, 0xff, 0xff, 0xfe]));
  });

  it('applies the defaults to channel fields that are absent (as the Java sender omits them)', () => {
    const value = Buffer.alloc(8);
    value.writeDoubleLE(3.25, 0);
    const msg = decodeMessage(rawMessage([{ name: 'X' }], [value, encodeTimestamp(ts)]), new DataHeaderCache());
    expect(msg.channels).toEqual([
      { name: 'X', type: 'float64', shape: [1], encoding: 'little', compression: 'none', modulo: 1, offset: 0 },
    ]);
    expect(Buffer.from(msg.values.at(0).bytes!).readDoubleLE(0)).toBe(3.25);
    // Explicit nulls are defaults too; so is an empty shape; modulo and offset are kept.
    const m2 = decodeMessage(
      rawMessage([{ name: 'Y', type: 'int8', shape: [], encoding: null, compression: null, modulo: 10, offset: 3 }], [Buffer.from([0xff]), Buffer.alloc(0)]),
      new DataHeaderCache(),
    );
    expect(m2.channels[0]).toEqual({ name: 'Y', type: 'int8', shape: [1], encoding: 'little', compression: 'none', modulo: 10, offset: 3 });
    // And the encoder can leave them out as Java does, with the same result.
    const omitted = encodeDataHeader([{ name: 'X' }], { omitDefaults: true });
    expect(JSON.parse(omitted.bytes.toString())).toEqual({ htype: 'bsr_d-1.1', channels: [{ name: 'X' }] });
  });

  it('takes strings as their UTF-8 bytes, any length, shape [1], compressed or not', () => {
    for (const compression of ['none', 'lz4', 'bitshuffle_lz4'] as const) {
      const header = encodeDataHeader([{ name: 'STR', type: 'string', compression }]);
      const text = 'Störung: ' + 'x'.repeat(300);
      const msg = decodeMessage(
        encodeMessage({ header, pulseId: 1, globalTimestamp: ts, values: [new TextEncoder().encode(text)] }),
        new DataHeaderCache(),
      );
      expect(Buffer.from(msg.values.at(0).bytes!).toString('utf8')).toBe(text);
    }
  });
});

describe('decodeMessage: missing values and timestamps', () => {
  const channels = [
    { name: 'A', type: 'int16', encoding: 'little' },
    { name: 'B', type: 'int16', encoding: 'big' },
  ];
  const decode = (parts: Uint8Array[]): ReturnType<typeof decodeMessage> => decodeMessage(rawMessage(channels, parts), new DataHeaderCache());

  it('reads empty value parts as no value, with or without a timestamp', () => {
    const msg = decode([Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0), encodeTimestamp(ts, 'big')]);
    expect(msg.values.toArray()).toEqual([
      { bytes: null, timestamp: null },
      { bytes: null, timestamp: ts },
    ]);
  });

  it('reads timestamps in the channel byte order; empty parts and 16 zero bytes are null', () => {
    const v = Buffer.from([1, 2]);
    const msg = decode([v, encodeTimestamp({ sec: 5, ns: 999_999_999 }, 'little'), v, encodeTimestamp({ sec: 2 ** 40, ns: 1 }, 'big')]);
    expect(msg.values.toArray().map((x) => x.timestamp)).toEqual([
      { sec: 5, ns: 999_999_999 },
      { sec: 2 ** 40, ns: 1 },
    ]);
    expect(decode([v, Buffer.alloc(0), v, Buffer.alloc(16)]).values.toArray().map((x) => x.timestamp)).toEqual([null, null]);
  });

  it('sends the global timestamp for present values and empty parts for absent ones by default', () => {
    const header = encodeDataHeader(channels as BsreadChannelInput[]);
    const parts = encodeMessage({ header, pulseId: 7, globalTimestamp: ts, values: [null, new Uint8Array([9, 0])] });
    expect(parts.map((p) => p.length)).toEqual([parts[0]!.length, parts[1]!.length, 0, 0, 2, 16]);
    const msg = decodeMessage(parts, new DataHeaderCache());
    expect(plain(msg.values.toArray())).toEqual([
      { bytes: null, timestamp: null },
      { bytes: new Uint8Array([9, 0]), timestamp: ts },
    ]);
  });
});

describe('decodeMessage: the main header', () => {
  const channels = [{ name: 'A', type: 'uint8' }];
  const parts = (main: Record<string, unknown>): Buffer[] => rawMessage(channels, [Buffer.from([1]), Buffer.alloc(0)], main);

  it('accepts epoch for sec, any bsr_m version, no htype, and no dh_compression', () => {
    for (const main of [
      { global_timestamp: { epoch: 17, ns: 3 } },
      { htype: 'bsr_m-1.0' },
      { htype: undefined },
      { dh_compression: 'none' },
      { dh_compression: null },
    ]) {
      const msg = decodeMessage(parts(main), new DataHeaderCache());
      expect(msg.pulseId).toBe(1000);
    }
    expect(decodeMessage(parts({ global_timestamp: { epoch: 17, ns: 3 } }), new DataHeaderCache()).globalTimestamp).toEqual({ sec: 17, ns: 3 });
  });

  for (const compression of ['bitshuffle_lz4', 'lz4'] as const) {
    for (const order of ['little', 'big'] as const) {
      if (compression === 'bitshuffle_lz4' && order === 'big') continue;
      it(`decodes a data header compressed with ${compression}${compression === 'lz4' ? ` (${order}-endian prefix)` : ''}`, () => {
        const many = Array.from({ length: 50 }, (_, i) => ({ name: `CH:${i}`, type: 'int32' as const }));
        const header = encodeDataHeader(many, { compression, lz4PrefixOrder: order });
        expect(header.bytes.length).toBeLessThan(JSON.stringify(many).length);
        const p = encodeMessage({ header, pulseId: 5, globalTimestamp: ts, values: many.map((_, i) => new Uint8Array([i, 0, 0, 0])) });
        expect(JSON.parse(p[0]!.toString()).dh_compression).toBe(compression);
        const msg = decodeMessage(p, new DataHeaderCache());
        expect(msg.channels.map((c) => c.name)).toEqual(many.map((c) => c.name));
        expect(u8(msg.values.at(49).bytes)).toEqual(new Uint8Array([49, 0, 0, 0]));
      });
    }
  }
});

describe('DataHeaderCache', () => {
  it('parses a data header only when the hash changes, and shares the channel list', () => {
    const cache = new DataHeaderCache();
    const h1 = encodeDataHeader([{ name: 'A', type: 'int32' }]);
    const h2 = encodeDataHeader([{ name: 'A', type: 'float32' }]);
    expect(h1.hash).not.toBe(h2.hash);
    const send = (header: typeof h1, pulseId: number): ReturnType<typeof decodeMessage> =>
      decodeMessage(encodeMessage({ header, pulseId, globalTimestamp: ts, values: [new Uint8Array(4)] }), cache);
    const m1 = send(h1, 1);
    const m2 = send(h1, 2);
    expect(cache.parses).toBe(1);
    expect(m2.channels).toBe(m1.channels);
    const m3 = send(h2, 3);
    expect(cache.parses).toBe(2);
    expect(m3.channels[0]!.type).toBe('float32');
    send(h1, 4); // back to a known hash: no parse
    expect(cache.parses).toBe(2);
  });

  it('skips the data header part unread for a known hash, even when it is empty or garbage', () => {
    const cache = new DataHeaderCache();
    const header = encodeDataHeader([{ name: 'A', type: 'uint8' }]);
    const parts = encodeMessage({ header, pulseId: 1, globalTimestamp: ts, values: [new Uint8Array([1])] });
    decodeMessage(parts, cache);
    expect(u8(decodeMessage([parts[0]!, Buffer.alloc(0), ...parts.slice(2)], cache).values.at(0).bytes)).toEqual(new Uint8Array([1]));
    expect(decodeMessage([parts[0]!, Buffer.from('{'), ...parts.slice(2)], cache).channels[0]!.name).toBe('A');
    expect(cache.parses).toBe(1);
  });

  it('keeps at most maxEntries headers, least recently used out', () => {
    const cache = new DataHeaderCache(2);
    const headers = [0, 1, 2].map((i) => encodeDataHeader([{ name: `C${i}` }]));
    const send = (i: number): void => {
      decodeMessage(encodeMessage({ header: headers[i]!, pulseId: i, globalTimestamp: ts, values: [null] }), cache);
    };
    send(0);
    send(1);
    send(0);
    send(2); // evicts 1
    expect(cache.size).toBe(2);
    expect(cache.get(headers[1]!.hash)).toBeUndefined();
    expect(cache.get(headers[0]!.hash)).toBeDefined();
  });

  it('does not parse the same refused header again, but parses a different one under the same hash', () => {
    const cache = new DataHeaderCache();
    const bad = [mainHeader({ hash: 'h' }), Buffer.from('not json')];
    expect(decodeError(() => decodeMessage(bad, cache)).reason).toBe('DATA_HEADER');
    expect(decodeError(() => decodeMessage(bad, cache)).reason).toBe('DATA_HEADER');
    expect(cache.parses).toBe(1);
    const good = [mainHeader({ hash: 'h' }), dataHeaderBytes([])];
    expect(decodeMessage(good, cache).channels).toEqual([]);
    expect(cache.parses).toBe(2);
  });
});

describe('decodeMessage: malformed messages', () => {
  const channels = [
    { name: 'I', type: 'int32', shape: [2] },
    { name: 'B', type: 'uint16', shape: [4], compression: 'bitshuffle_lz4' },
  ];
  const header = encodeDataHeader(channels as BsreadChannelInput[]);
  const good = (): Buffer[] =>
    encodeMessage({ header, pulseId: 9, globalTimestamp: ts, values: [new Uint8Array(8), new Uint8Array([1, 0, 2, 0, 3, 0, 4, 0])] });
  const withPart = (i: number, part: Uint8Array): Buffer[] => good().map((p, k) => (k === i ? Buffer.from(part) : p));
  const dh = (chs: unknown[]): Buffer[] => rawMessage(chs, chs.flatMap(() => [Buffer.alloc(0), Buffer.alloc(0)]));

  const cases: Array<[string, BsreadDecodeReason, () => Uint8Array[]]> = [
    ['no parts', 'PART_COUNT', () => []],
    ['one part', 'PART_COUNT', () => good().slice(0, 1)],
    ['a part missing', 'PART_COUNT', () => good().slice(0, 5)],
    ['a part too many', 'PART_COUNT', () => [...good(), Buffer.alloc(0)]],
    ['main header not JSON', 'MAIN_HEADER', () => withPart(0, Buffer.from('{"pulse_id": 1,'))],
    ['main header not an object', 'MAIN_HEADER', () => withPart(0, Buffer.from('[1]'))],
    ['main header not UTF-8 JSON', 'MAIN_HEADER', () => withPart(0, Buffer.from([0xff, 0xfe, 0x00]))],
    ['no pulse_id', 'MAIN_HEADER', () => withPart(0, mainHeader({ hash: header.hash, pulse_id: undefined }))],
    ['pulse_id a string', 'MAIN_HEADER', () => withPart(0, mainHeader({ hash: header.hash, pulse_id: '12' }))],
    ['pulse_id fractional', 'MAIN_HEADER', () => withPart(0, mainHeader({ hash: header.hash, pulse_id: 1.5 }))],
    ['pulse_id beyond 2^53', 'MAIN_HEADER', () => withPart(0, Buffer.from(`{"pulse_id": 18446744073709551615, "hash": "${header.hash}", "global_timestamp": {"sec": 1, "ns": 0}}`))],
    ['no global_timestamp', 'MAIN_HEADER', () => withPart(0, mainHeader({ hash: header.hash, global_timestamp: undefined }))],
    ['ns out of range', 'MAIN_HEADER', () => withPart(0, mainHeader({ hash: header.hash, global_timestamp: { sec: 1, ns: 1e9 } }))],
    ['no hash', 'MAIN_HEADER', () => withPart(0, mainHeader({}))],
    ['htype not a string', 'MAIN_HEADER', () => withPart(0, mainHeader({ hash: header.hash, htype: 3 }))],
    ['a command', 'NOT_DATA', () => [Buffer.from('{"htype": "bsr_stop-1.0", "sentMessages": 10}')]],
    ['unknown dh_compression', 'UNKNOWN_COMPRESSION', () => withPart(0, mainHeader({ hash: header.hash, dh_compression: 'zstd' }))],
    ['hash without a header', 'UNKNOWN_HASH', () => withPart(1, Buffer.alloc(0))],
    ['data header not JSON', 'DATA_HEADER', () => withPart(1, Buffer.from('{"channels": ['))],
    ['data header without channels', 'DATA_HEADER', () => withPart(1, Buffer.from('{"htype": "bsr_d-1.1"}'))],
    ['compressed data header that is not', 'DATA_HEADER', () => withPart(0, mainHeader({ hash: header.hash, dh_compression: 'lz4' }))],
    ['channel without a name', 'DATA_HEADER', () => dh([{ type: 'int8' }])],
    ['unknown type', 'DATA_HEADER', () => dh([{ name: 'X', type: 'complex128' }])],
    ['bad shape', 'DATA_HEADER', () => dh([{ name: 'X', shape: [0] }])],
    ['shape not a list', 'DATA_HEADER', () => dh([{ name: 'X', shape: 4 }])],
    ['absurd shape', 'DATA_HEADER', () => dh([{ name: 'X', shape: [1e6, 1e6] }])],
    ['bad encoding', 'DATA_HEADER', () => dh([{ name: 'X', encoding: '<' }])],
    ['bad modulo', 'DATA_HEADER', () => dh([{ name: 'X', modulo: 0 }])],
    ['bad offset', 'DATA_HEADER', () => dh([{ name: 'X', offset: -1 }])],
    ['duplicate channel', 'DATA_HEADER', () => dh([{ name: 'X' }, { name: 'X' }])],
    ['unknown channel compression', 'UNKNOWN_COMPRESSION', () => dh([{ name: 'X', compression: 'gzip' }])],
    ['truncated value', 'VALUE_SIZE', () => withPart(2, new Uint8Array(7))],
    ['oversized value', 'VALUE_SIZE', () => withPart(2, new Uint8Array(12))],
    ['corrupt compressed value', 'COMPRESSED_VALUE', () => withPart(4, Buffer.from('not bitshuffle at all'))],
    ['compressed value of the wrong size', 'COMPRESSED_VALUE', () => withPart(4, compressBitshuffleLz4(new Uint8Array(10), 2))],
    ['timestamp of 8 bytes', 'TIMESTAMP', () => withPart(3, new Uint8Array(8))],
    ['timestamp ns out of range', 'TIMESTAMP', () => withPart(3, encodeTimestamp({ sec: 1, ns: 1_000_000_000 }))],
  ];

  it('has a case for every reason', () => {
    expect(new Set(cases.map((c) => c[1]))).toEqual(new Set(bsreadDecodeReasonList));
  });

  for (const [name, reason, parts] of cases) {
    it(`${name}: ${reason}`, () => {
      const e = decodeError(() => decodeMessage(parts(), new DataHeaderCache()));
      expect(e.reason).toBe(reason);
      expect(e.code).toBe('VALIDATION_FAILED');
      expect(e.details.reason).toBe(reason);
    });
  }

  it('names the pulse, channel and part of a value error', () => {
    const e = decodeError(() => decodeMessage(withPart(2, new Uint8Array(7)), new DataHeaderCache()));
    expect(e).toMatchObject({ pulseId: 9, channel: 'I', details: { part: 2 } });
    expect(e.message).toMatch(/I: 7 bytes where its type and shape take 8/);
  });

  it("channelErrors 'null': a bad value or timestamp nulls that channel, the rest is delivered and reported", () => {
    const errors: BsreadDecodeError[] = [];
    const parts = good();
    parts[2] = Buffer.alloc(7);
    parts[5] = Buffer.alloc(3);
    const msg = decodeMessage(parts, new DataHeaderCache(), { channelErrors: 'null', onChannelError: (e) => errors.push(e) });
    expect(msg.values.at(0)).toEqual({ bytes: null, timestamp: null });
    // A bad timestamp makes the whole channel absent for this pulse, as a bad value does.
    expect(msg.values.at(1)).toEqual({ bytes: null, timestamp: null });
    const onlyOne = good();
    onlyOne[2] = Buffer.alloc(7);
    expect(plain(decodeMessage(onlyOne, new DataHeaderCache(), { channelErrors: 'null' }).values.toArray())[1]).toEqual({
      bytes: new Uint8Array([1, 0, 2, 0, 3, 0, 4, 0]),
      timestamp: ts,
    });
    expect(errors.map((e) => [e.reason, e.channel])).toEqual([
      ['VALUE_SIZE', 'I'],
      ['TIMESTAMP', 'B'],
    ]);
    // Message-level faults stay fatal in that mode.
    expect(decodeError(() => decodeMessage(good().slice(0, 3), new DataHeaderCache(), { channelErrors: 'null' })).reason).toBe('PART_COUNT');
  });

  it('throws nothing but BsreadDecodeError for any truncation, extension or corruption of a valid message', () => {
    const all = allTypeChannels('big', 'bitshuffle_lz4').concat(allTypeChannels('little', 'lz4').map((c) => ({ ...c, name: `L${c.name}` })));
    const h = encodeDataHeader(all, { compression: 'lz4' });
    const valid = encodeMessage({ header: h, pulseId: 3, globalTimestamp: ts, values: all.map((c, i) => valueOf(c, i)) });
    fc.assert(
      fc.property(
        fc.nat({ max: valid.length - 1 }),
        fc.oneof(
          fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
          fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bits: fc.integer({ min: 1, max: 255 }) }),
          fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 20 }) }),
        ),
        fc.boolean(),
        (partIndex, edit, freshCache) => {
          const parts = valid.map((p) => Buffer.from(p));
          const p = parts[partIndex]!;
          if (edit.kind === 'cut') parts[partIndex] = p.subarray(0, p.length === 0 ? 0 : edit.at % p.length);
          else if (edit.kind === 'flip' && p.length > 0) p[edit.at % p.length]! ^= edit.bits;
          else if (edit.kind === 'append') parts[partIndex] = Buffer.concat([p, edit.bytes]);
          const cache = new DataHeaderCache();
          if (!freshCache) decodeMessage(valid, cache);
          try {
            decodeMessage(parts, cache);
          } catch (e) {
            if (!(e instanceof BsreadDecodeError)) throw e;
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe('encodeValue', () => {
  it('swaps to the channel byte order before compressing', () => {
    const c = withDefaults({ name: 'X', type: 'uint16', shape: [4], encoding: 'big', compression: 'lz4' });
    const value = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const wire = encodeValue(c, value, { lz4PrefixOrder: 'big' });
    expect(wire.readUInt32BE(0)).toBe(8);
    expect(u8(decompressLz4(wire, 8))).toEqual(new Uint8Array([2, 1, 4, 3, 6, 5, 8, 7]));
  });

  it('leaves single-byte types alone in either order', () => {
    for (const type of ['bool', 'int8', 'uint8', 'string'] as BsreadType[]) {
      const c = withDefaults({ name: 'X', type, shape: [3], encoding: 'big' });
      expect(encodeValue(c, new Uint8Array([1, 2, 3]))).toEqual(Buffer.from([1, 2, 3]));
    }
  });
});
