/**
 * A bsread message (one pulse) after decoding: what the receiver hands to the ring buffer and the
 * ring buffer to the writer acquisitions. The wire format is in docs/formats.md.
 */
import type { BsreadValues } from './bsreadValues.js';

/** Channel types of the protocol (`type` in the data header; default float64). */
export const bsreadTypes = [
  'bool',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'float32',
  'float64',
  'string',
] as const;
export type BsreadType = (typeof bsreadTypes)[number];

export type BsreadCompression = 'none' | 'bitshuffle_lz4' | 'lz4';
export type BsreadByteOrder = 'little' | 'big';

/** One channel as the data header describes it, defaults applied. */
export interface BsreadChannelConfig {
  readonly name: string;
  readonly type: BsreadType;
  /** As on the wire: fastest-varying dimension first (the reverse of HDF5/numpy order). `[1]` for scalars. */
  readonly shape: readonly number[];
  readonly encoding: BsreadByteOrder;
  readonly compression: BsreadCompression;
  readonly modulo: number;
  readonly offset: number;
}

/** A timestamp as the protocol carries it: seconds and nanoseconds since the Unix epoch. */
export interface BsreadTimestamp {
  readonly sec: number;
  readonly ns: number;
}

/**
 * One channel's value in one pulse. `bytes` is the value decoded to raw elements in
 * LITTLE-endian order (decompressed, byte-swapped when the channel was big-endian), C order of
 * the HDF5 shape; null when the channel had no value in this pulse (empty part), or when its
 * value could not be decoded (counted by the receiver). For `string`, the UTF-8 bytes.
 */
export interface BsreadValue {
  readonly bytes: Uint8Array | null;
  /** Null when the timestamp part was empty. */
  readonly timestamp: BsreadTimestamp | null;
}

export interface BsreadMessage {
  /** Pulse id (int64 on the wire; exact as a number up to 2^53, far beyond any facility's count). */
  readonly pulseId: number;
  readonly globalTimestamp: BsreadTimestamp;
  /** MD5 hex of the data header as transmitted: equal hashes mean equal channel lists. */
  readonly hash: string;
  /** The channels of the data header, in its order (shared between messages with the same hash). */
  readonly channels: readonly BsreadChannelConfig[];
  /** One per channel, same order, packed (bsreadValues.ts); `values.at(i)` is a `BsreadValue`. */
  readonly values: BsreadValues;
  /** Bytes of the message on the wire (all parts): what the ring buffer's byte bound counts. */
  readonly wireBytes: number;
}

/** Element size in bytes of a numeric type; 1 for bool and string. */
export const elementSize = (type: BsreadType): number => {
  switch (type) {
    case 'bool':
    case 'int8':
    case 'uint8':
    case 'string':
      return 1;
    case 'int16':
    case 'uint16':
      return 2;
    case 'int32':
    case 'uint32':
    case 'float32':
      return 4;
    case 'int64':
    case 'uint64':
    case 'float64':
      return 8;
  }
};

/** The HDF5 (numpy, C-order) shape of a channel: the wire shape reversed; [] for scalars. */
export const hdf5ShapeOf = (channel: Pick<BsreadChannelConfig, 'shape'>): number[] =>
  channel.shape.length === 1 && channel.shape[0] === 1 ? [] : [...channel.shape].reverse();
