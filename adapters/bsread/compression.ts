/**
 * The two compressions of bsread values and data headers (docs/formats.md):
 *
 * - `bitshuffle_lz4`: the HDF5 bitshuffle filter's chunk format. 8-byte big-endian uncompressed
 *   length (0 means an empty value), 4-byte big-endian block size in bytes, then for each block of
 *   `blockSize / elemSize` elements a 4-byte big-endian compressed length and an LZ4 raw block of
 *   the bit-transposed block; the last partial block rounded down to a multiple of 8 elements is
 *   encoded the same way, and the last `n % 8` elements follow raw.
 * - `lz4`: a 4-byte uncompressed length and one LZ4 raw block. Implementations disagree on the
 *   byte order of the length (C++ big, Python 2.0.2 little, Java and Rust the channel's), so the
 *   decoder accepts either: the order whose length is the expected one (known from type and shape
 *   for numeric values), else the plausible one (LZ4 expands at most ~255 times), little first.
 *
 * LZ4 raw blocks go through lz4-napi (lz4_flex compiled to a Node-API addon). Its block functions
 * take and give a 4-byte little-endian size prefix (`compress_prepend_size`), which the functions
 * here add and strip. Failures throw `BsreadDecodeError('COMPRESSED_VALUE')`.
 */
import { compressSync, uncompressSync } from 'lz4-napi';
import type { BsreadByteOrder } from './bsreadMessage.js';
import { bitshuffleBlock, bitunshuffleBlock } from './bitshuffle.js';
import { BsreadDecodeError } from './errors.js';

/** Elements per bitshuffle block as bsread's Python sender picks them: 8 KiB blocks, at least 128 elements. */
export const defaultBlockElements = (elemSize: number): number => Math.max(128, Math.floor(8192 / elemSize / 8) * 8);

/** Largest decompressed value accepted unless told otherwise: 512 MiB. */
export const DEFAULT_MAX_VALUE_BYTES = 512 * 1024 * 1024;

const TWO_32 = 2 ** 32;

const corrupt = (message: string, cause?: unknown): BsreadDecodeError =>
  new BsreadDecodeError('COMPRESSED_VALUE', message, {}, cause === undefined ? undefined : { cause });

/** A scratch buffer for prefixing LZ4 blocks, grown as needed and reused (the decoder is synchronous). */
let scratch = Buffer.allocUnsafeSlow(16 * 1024);

const prefixed = (block: Uint8Array, size: number): Buffer => {
  if (scratch.length < block.length + 4) scratch = Buffer.allocUnsafeSlow(Math.max(block.length + 4, scratch.length * 2));
  scratch.writeUInt32LE(size, 0);
  scratch.set(block, 4);
  return scratch.subarray(0, block.length + 4);
};

/**
 * Decodes one LZ4 raw block that must expand to exactly `size` bytes. `withPrefix`: the same block
 * already preceded by `size` as 4 little-endian bytes, which saves the copy.
 */
const lz4Block = (block: Uint8Array, size: number, what: string, withPrefix?: Uint8Array): Buffer => {
  let out: Buffer;
  try {
    out = uncompressSync(withPrefix ?? prefixed(block, size));
  } catch (e) {
    throw corrupt(`${what}: corrupt LZ4 block (${e instanceof Error ? e.message : String(e)})`, e);
  }
  if (out.length !== size) throw corrupt(`${what}: LZ4 block expands to ${out.length} bytes, not ${size}`);
  return out;
};

/** The most bytes `n` bytes of LZ4 block can expand to (a match costs at least 1 byte per 255). */
const lz4Bound = (n: number): number => n * 255 + 64;

/**
 * Decompresses a bitshuffle_lz4 payload of `elemSize`-byte elements. `expectedBytes` is the
 * uncompressed length the channel's type and shape require (undefined for strings and data
 * headers). Returns null for a payload that says it holds 0 bytes (an empty value).
 */
export const decompressBitshuffleLz4 = (
  payload: Uint8Array,
  elemSize: number,
  expectedBytes: number | undefined,
  maxBytes: number = DEFAULT_MAX_VALUE_BYTES,
): Uint8Array | null => {
  if (payload.length < 12) throw corrupt(`bitshuffle_lz4: ${payload.length} bytes is shorter than the 12-byte header`);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const hiLen = view.getUint32(0);
  const total = hiLen * TWO_32 + view.getUint32(4);
  if (total === 0) return null;
  if (expectedBytes !== undefined && total !== expectedBytes) {
    throw corrupt(`bitshuffle_lz4: the header says ${total} bytes, the type and shape ${expectedBytes}`);
  }
  if (hiLen >= 2 ** 21 || total > maxBytes) throw corrupt(`bitshuffle_lz4: ${total} bytes is more than the limit of ${maxBytes}`);
  if (total % elemSize !== 0) throw corrupt(`bitshuffle_lz4: ${total} bytes is not a whole number of ${elemSize}-byte elements`);
  const blockBytes = view.getUint32(8);
  if (blockBytes === 0 || blockBytes % (8 * elemSize) !== 0) {
    throw corrupt(`bitshuffle_lz4: a block size of ${blockBytes} bytes is not a positive multiple of 8 elements of ${elemSize} bytes`);
  }
  const n = total / elemSize;
  const blockElements = blockBytes / elemSize;
  const out = Buffer.allocUnsafeSlow(total);
  let pos = 12;
  let outPos = 0;
  const block = (elements: number): void => {
    if (pos + 4 > payload.length) throw corrupt(`bitshuffle_lz4: truncated at byte ${pos} (block ${outPos / blockBytes})`);
    const length = view.getUint32(pos);
    pos += 4;
    if (pos + length > payload.length) {
      throw corrupt(`bitshuffle_lz4: a block of ${length} bytes at byte ${pos} runs past the end (${payload.length} bytes)`);
    }
    const raw = lz4Block(payload.subarray(pos, pos + length), elements * elemSize, 'bitshuffle_lz4');
    bitunshuffleBlock(raw, 0, out, outPos, elements, elemSize);
    pos += length;
    outPos += elements * elemSize;
  };
  const fullBlocks = Math.floor(n / blockElements);
  for (let b = 0; b < fullBlocks; b++) block(blockElements);
  const rest = n % blockElements;
  const last = rest - (rest % 8);
  if (last > 0) block(last);
  const tail = (n % 8) * elemSize;
  if (pos + tail !== payload.length) {
    throw corrupt(`bitshuffle_lz4: ${payload.length - pos} bytes after the blocks where the ${n % 8} raw elements take ${tail}`);
  }
  if (tail > 0) out.set(payload.subarray(pos, pos + tail), outPos);
  return out;
};

/**
 * Decompresses an lz4 payload (4-byte length in either byte order, then one LZ4 raw block).
 * `expectedBytes` as for bitshuffle_lz4. Returns null for a length of 0.
 */
export const decompressLz4 = (
  payload: Uint8Array,
  expectedBytes: number | undefined,
  maxBytes: number = DEFAULT_MAX_VALUE_BYTES,
): Uint8Array | null => {
  if (payload.length < 4) throw corrupt(`lz4: ${payload.length} bytes is shorter than the 4-byte length`);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const little = view.getUint32(0, true);
  const big = view.getUint32(0, false);
  const plausible = (size: number): boolean =>
    expectedBytes !== undefined ? size === expectedBytes : size <= maxBytes && size <= lz4Bound(payload.length - 4);
  const sizes = little === big ? [little] : [little, big];
  const candidates = sizes.filter(plausible);
  if (candidates.length === 0) {
    throw corrupt(
      expectedBytes !== undefined
        ? `lz4: the length prefix (${little} little-endian, ${big} big-endian) is not the ${expectedBytes} bytes of the type and shape`
        : `lz4: the length prefix (${little} little-endian, ${big} big-endian) is beyond what ${payload.length} bytes can hold`,
    );
  }
  let failure: unknown;
  for (const size of candidates) {
    if (size === 0) return null;
    try {
      return lz4Block(payload.subarray(4), size, 'lz4', size === little ? payload : undefined);
    } catch (e) {
      failure = e;
    }
  }
  throw failure;
};

/** Compresses bytes to one LZ4 raw block (no prefix). */
const lz4CompressBlock = (bytes: Uint8Array): Buffer =>
  compressSync(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).subarray(4);

/** Encodes bytes of `elemSize`-byte elements as a bitshuffle_lz4 payload (for the simulator and tests). */
export const compressBitshuffleLz4 = (
  bytes: Uint8Array,
  elemSize: number,
  blockElements: number = defaultBlockElements(elemSize),
): Buffer => {
  if (bytes.length % elemSize !== 0) throw new RangeError(`${bytes.length} bytes is not a whole number of ${elemSize}-byte elements`);
  if (blockElements <= 0 || blockElements % 8 !== 0) throw new RangeError(`a block holds a positive multiple of 8 elements, not ${blockElements}`);
  const n = bytes.length / elemSize;
  const header = Buffer.alloc(12);
  header.writeUInt32BE(Math.floor(bytes.length / TWO_32), 0);
  header.writeUInt32BE(bytes.length % TWO_32, 4);
  header.writeUInt32BE(blockElements * elemSize, 8);
  const pieces: Buffer[] = [header];
  const shuffled = Buffer.allocUnsafeSlow(blockElements * elemSize);
  const block = (start: number, elements: number): void => {
    bitshuffleBlock(bytes, start * elemSize, shuffled, 0, elements, elemSize);
    const compressed = lz4CompressBlock(shuffled.subarray(0, elements * elemSize));
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32BE(compressed.length, 0);
    pieces.push(length, compressed);
  };
  let start = 0;
  for (; start + blockElements <= n; start += blockElements) block(start, blockElements);
  const last = (n - start) - ((n - start) % 8);
  if (last > 0) block(start, last);
  start += last;
  if (start < n) pieces.push(Buffer.from(bytes.subarray(start * elemSize)));
  return Buffer.concat(pieces);
};

/** Encodes bytes as an lz4 payload with the length prefix in the given byte order. */
export const compressLz4 = (bytes: Uint8Array, prefixOrder: BsreadByteOrder = 'little'): Buffer => {
  const out = compressSync(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  if (prefixOrder === 'big') out.writeUInt32BE(bytes.length, 0);
  return out;
};
