// Encoding bsread messages (docs/formats.md): for the simulator and the tests, and any sender
// daqflow may grow. The decoder, on the receiving hot path, is bsreadCodec.ts.
import { createHash } from 'node:crypto';
import {
  elementSize,
  type BsreadByteOrder,
  type BsreadChannelConfig,
  type BsreadCompression,
  type BsreadTimestamp,
  type BsreadType,
} from './bsreadMessage.js';
import { compressBitshuffleLz4, compressLz4 } from './compression.js';
import { asBuffer, swapped } from './bsreadCodec.js';

/** A channel as a sender describes it: every field but the name may take the protocol default. */
export interface BsreadChannelInput {
  readonly name: string;
  readonly type?: BsreadType;
  readonly shape?: readonly number[];
  readonly encoding?: BsreadByteOrder;
  readonly compression?: BsreadCompression;
  readonly modulo?: number;
  readonly offset?: number;
}

export const withDefaults = (c: BsreadChannelInput): BsreadChannelConfig => ({
  name: c.name,
  type: c.type ?? 'float64',
  shape: Object.freeze([...(c.shape ?? [1])]),
  encoding: c.encoding ?? 'little',
  compression: c.compression ?? 'none',
  modulo: c.modulo ?? 1,
  offset: c.offset ?? 0,
});

/** A data header ready to send: its bytes as transmitted and their MD5. */
export interface EncodedDataHeader {
  readonly channels: readonly BsreadChannelConfig[];
  /** The data header part as transmitted (compressed when `compression` is not none). */
  readonly bytes: Buffer;
  readonly hash: string;
  readonly compression: BsreadCompression;
}

export interface EncodeDataHeaderOptions {
  /** dh_compression. Default none. */
  readonly compression?: BsreadCompression;
  /** Leave out the fields equal to their default, as the Java sender does. Default: only compression, modulo and offset are left out when default. */
  readonly omitDefaults?: boolean;
  /** Byte order of an lz4-compressed header's length prefix. Default little. */
  readonly lz4PrefixOrder?: BsreadByteOrder;
}

export const encodeDataHeader = (channels: readonly BsreadChannelInput[], options: EncodeDataHeaderOptions = {}): EncodedDataHeader => {
  const configs = Object.freeze(channels.map(withDefaults));
  const omit = options.omitDefaults === true;
  const json = {
    htype: 'bsr_d-1.1',
    channels: configs.map((c) => {
      const out: Record<string, unknown> = { name: c.name };
      if (!omit || c.type !== 'float64') out.type = c.type;
      if (!omit || !(c.shape.length === 1 && c.shape[0] === 1)) out.shape = c.shape;
      if (!omit || c.encoding !== 'little') out.encoding = c.encoding;
      if (c.compression !== 'none') out.compression = c.compression;
      if (c.modulo !== 1) out.modulo = c.modulo;
      if (c.offset !== 0) out.offset = c.offset;
      return out;
    }),
  };
  const compression = options.compression ?? 'none';
  const text = Buffer.from(JSON.stringify(json), 'utf8');
  const bytes =
    compression === 'bitshuffle_lz4'
      ? compressBitshuffleLz4(text, 1)
      : compression === 'lz4'
        ? compressLz4(text, options.lz4PrefixOrder ?? 'little')
        : text;
  return { channels: configs, bytes, hash: createHash('md5').update(bytes).digest('hex'), compression };
};

/**
 * A channel's value as sent: `bytes` are little-endian raw elements (the decoded form of
 * bsreadMessage.ts); swapped to the channel's byte order and compressed with its compression.
 */
export const encodeValue = (
  channel: BsreadChannelConfig,
  bytes: Uint8Array,
  options: { readonly lz4PrefixOrder?: BsreadByteOrder } = {},
): Buffer => {
  const elemSize = elementSize(channel.type);
  const ordered = channel.encoding === 'big' && elemSize > 1 ? swapped(bytes, elemSize) : asBuffer(bytes);
  if (channel.compression === 'bitshuffle_lz4') return compressBitshuffleLz4(ordered, elemSize);
  if (channel.compression === 'lz4') return compressLz4(ordered, options.lz4PrefixOrder ?? 'little');
  return ordered;
};

/** A timestamp part: seconds and nanoseconds as 64-bit integers in the given byte order. */
export const encodeTimestamp = (ts: BsreadTimestamp, order: BsreadByteOrder = 'little'): Buffer => {
  const out = Buffer.alloc(16);
  const little = order === 'little';
  const view = new DataView(out.buffer, out.byteOffset, 16);
  view.setBigUint64(0, BigInt(ts.sec), little);
  view.setBigUint64(8, BigInt(ts.ns), little);
  return out;
};

/** One channel's value for `encodeMessage`: raw little-endian bytes, already-encoded wire bytes, or none. */
export type EncodableValue = Uint8Array | { readonly wire: Uint8Array } | null;

export interface EncodeMessageInput {
  readonly header: EncodedDataHeader;
  readonly pulseId: number;
  readonly globalTimestamp: BsreadTimestamp;
  /** One per channel of the header. */
  readonly values: readonly EncodableValue[];
  /**
   * One per channel; null sends an empty timestamp part. Default: the global timestamp for every
   * channel with a value (as bsread's Python sender does), an empty part for the others.
   */
  readonly timestamps?: readonly (BsreadTimestamp | null)[];
  /** Default bsr_m-1.1. */
  readonly htype?: string;
  /** Spell global_timestamp's seconds `epoch` instead of `sec`. */
  readonly secondsKey?: 'sec' | 'epoch';
  readonly lz4PrefixOrder?: BsreadByteOrder;
}

const EMPTY = Buffer.alloc(0);

/** Encodes one message as its ZeroMQ parts. */
export const encodeMessage = (input: EncodeMessageInput): Buffer[] => {
  const { header, globalTimestamp } = input;
  const n = header.channels.length;
  if (input.values.length !== n) throw new RangeError(`${input.values.length} values for ${n} channels`);
  const main: Record<string, unknown> = {
    htype: input.htype ?? 'bsr_m-1.1',
    pulse_id: input.pulseId,
    global_timestamp: { [input.secondsKey ?? 'sec']: globalTimestamp.sec, ns: globalTimestamp.ns },
    hash: header.hash,
  };
  if (header.compression !== 'none') main.dh_compression = header.compression;
  const parts: Buffer[] = new Array<Buffer>(2 + 2 * n);
  parts[0] = Buffer.from(JSON.stringify(main), 'utf8');
  parts[1] = header.bytes;
  // The global timestamp, encoded once per byte order for this message.
  let globalLittle: Buffer | undefined;
  let globalBig: Buffer | undefined;
  for (let i = 0; i < n; i++) {
    const channel = header.channels[i]!;
    const value = input.values[i];
    if (value === null || value === undefined) parts[2 + 2 * i] = EMPTY;
    else if ('wire' in value) parts[2 + 2 * i] = asBuffer(value.wire);
    else parts[2 + 2 * i] = encodeValue(channel, value, { lz4PrefixOrder: input.lz4PrefixOrder });
    const ts = input.timestamps !== undefined ? input.timestamps[i] : value === null ? null : undefined;
    if (ts === null) parts[3 + 2 * i] = EMPTY;
    else if (ts !== undefined) parts[3 + 2 * i] = encodeTimestamp(ts, channel.encoding);
    else if (channel.encoding === 'big') parts[3 + 2 * i] = globalBig ??= encodeTimestamp(globalTimestamp, 'big');
    else parts[3 + 2 * i] = globalLittle ??= encodeTimestamp(globalTimestamp, 'little');
  }
  return parts;
};
