/**
 * The bsread wire format (docs/formats.md): pure functions from a ZeroMQ multipart message
 * to a `BsreadMessage` and back. No sockets here.
 *
 * Decoding, part by part:
 * - part 0, the main header: JSON with an integer `pulse_id`, `global_timestamp` {sec (or epoch),
 *   ns}, the data header's `hash` and an optional `dh_compression`. An `htype` that is not a data
 *   message's (`bsr_m-…`) is refused as NOT_DATA; a missing htype is accepted, as bsread's Python
 *   handlers never look at it.
 * - part 1, the data header: parsed only when the hash is not in the `DataHeaderCache`; otherwise
 *   skipped unread (it may then even be empty). Channel fields absent take the protocol defaults
 *   (float64, shape [1], little, none, modulo 1, offset 0); an empty shape `[]` is read as `[1]`.
 *   The hash is compared, not verified (as every bsread receiver does).
 * - parts 2 + 2i and 3 + 2i, channel i's value and timestamp. An empty value part is "no value in
 *   this pulse" (bytes null). Values are delivered as the little-endian raw elements of
 *   bsreadMessage.ts, packed (bsreadValues.ts): uncompressed values up to 1 KiB are copied into
 *   the pulse's one block (byte-swapped on the way when big-endian); bigger uncompressed
 *   little-endian values are the received bytes themselves (no copy), big-endian ones are copied
 *   and byte-swapped, compressed ones decompressed. Timestamps go to one Float64Array. A timestamp
 *   part is empty (null), or 16 bytes: seconds and nanoseconds as unsigned 64-bit integers in the
 *   channel's byte order; 16 zero bytes (std_daq's "no timestamp") are null too.
 *
 * A message that does not decode throws a `BsreadDecodeError` with a `reason`. One channel's value
 * or timestamp that does not decode (wrong size for its type and shape, corrupt compression, bad
 * timestamp) is, by default, a malformed message too (`channelErrors: 'reject'`): the sender and
 * its own data header disagree, and delivering the pulse with that channel "absent" would record
 * corruption as a value that was never sent. With `channelErrors: 'null'` the decoder does what
 * bsread's Python receiver does instead: that channel's value (and timestamp) become null, the rest
 * of the message is delivered, and `onChannelError` hears about it.
 */
import {
  bsreadTypes,
  elementSize,
  type BsreadChannelConfig,
  type BsreadCompression,
  type BsreadMessage,
  type BsreadTimestamp,
  type BsreadType,
} from './bsreadMessage.js';
import {
  decompressBitshuffleLz4,
  decompressLz4,
  DEFAULT_MAX_VALUE_BYTES,
} from './compression.js';
import { allocateValues, BsreadValues, COPY_MAX_BYTES, IN_VIEWS, NO_VALUE } from './bsreadValues.js';
import { BsreadDecodeError, type BsreadDecodeDetails, type BsreadDecodeReason } from './errors.js';

export const bsreadCompressions: readonly BsreadCompression[] = ['none', 'bitshuffle_lz4', 'lz4'];

/** How a channel of a parsed data header is decoded. */
interface ChannelPlan {
  readonly name: string;
  readonly elemSize: number;
  /** Bytes a value must have; -1 for strings (any length). */
  readonly expectedBytes: number;
  readonly compression: BsreadCompression;
  /** Big-endian multi-byte elements: values to swap. */
  readonly swap: boolean;
  /** Big-endian channel: its timestamps are big-endian too. */
  readonly bigTimestamp: boolean;
}

/** A data header as parsed once per hash. */
export interface ParsedDataHeader {
  readonly hash: string;
  readonly channels: readonly BsreadChannelConfig[];
  readonly plans: readonly ChannelPlan[];
}

/**
 * The data headers of one stream, by hash: a header is parsed the first time its hash is seen and
 * reused while the hash stays the same. Bounded (least recently used out), so a sender whose hash
 * changes every message costs a parse per message, not memory. The last refused header is kept
 * too, so that a stream of the same bad header is not parsed again and again.
 */
export class DataHeaderCache {
  readonly #entries = new Map<string, ParsedDataHeader>();
  #refused: { hash: string; part: Buffer; error: BsreadDecodeError } | undefined;
  /** Data headers parsed so far (a hash change or a refused header): for tests and statistics. */
  parses = 0;

  constructor(readonly maxEntries = 16) {}

  get size(): number {
    return this.#entries.size;
  }

  get(hash: string): ParsedDataHeader | undefined {
    const entry = this.#entries.get(hash);
    if (entry !== undefined && this.#entries.size > 1) {
      // Most recently used last.
      this.#entries.delete(hash);
      this.#entries.set(hash, entry);
    }
    return entry;
  }

  set(header: ParsedDataHeader): void {
    this.#entries.delete(header.hash);
    this.#entries.set(header.hash, header);
    while (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }

  /** @internal the decoder's memory of the last refused data header. */
  refused(hash: string, part: Buffer): BsreadDecodeError | undefined {
    const r = this.#refused;
    return r !== undefined && r.hash === hash && r.part.equals(part) ? r.error : undefined;
  }

  /** @internal */
  remember(hash: string, part: Buffer, error: BsreadDecodeError): void {
    this.#refused = { hash, part: Buffer.from(part), error };
  }
}

export interface DecodeOptions {
  /**
   * A channel whose value or timestamp does not decode: 'reject' the whole message (default) or
   * make that channel's value 'null' and deliver the rest (bsread Python's behaviour).
   */
  readonly channelErrors?: 'reject' | 'null';
  /** Told of each channel error that `channelErrors: 'null'` turned into a null value. */
  readonly onChannelError?: (error: BsreadDecodeError) => void;
  /** Largest decompressed value or data header accepted, in bytes. Default 512 MiB. */
  readonly maxValueBytes?: number;
}

const fail = (reason: BsreadDecodeReason, message: string, details: BsreadDecodeDetails = {}): never => {
  throw new BsreadDecodeError(reason, message, details);
};

/** `part` as a Buffer over the same bytes (no copy). */
export const asBuffer = (part: Uint8Array): Buffer =>
  Buffer.isBuffer(part) ? part : Buffer.from(part.buffer, part.byteOffset, part.byteLength);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const parseJson = (part: Uint8Array, reason: BsreadDecodeReason, what: string, details: BsreadDecodeDetails): unknown => {
  try {
    return JSON.parse(asBuffer(part).toString('utf8')) as unknown;
  } catch (e) {
    return fail(reason, `${what} is not JSON: ${e instanceof Error ? e.message : String(e)}`, details);
  }
};

const compressionOf = (v: unknown, what: string, details: BsreadDecodeDetails): BsreadCompression => {
  if (v === undefined || v === null) return 'none';
  if (typeof v === 'string' && (bsreadCompressions as readonly string[]).includes(v)) return v as BsreadCompression;
  return fail('UNKNOWN_COMPRESSION', `${what}: unknown compression ${JSON.stringify(v)}`, details);
};

interface MainHeader {
  readonly pulseId: number;
  readonly globalTimestamp: BsreadTimestamp;
  readonly hash: string;
  readonly dhCompression: BsreadCompression;
}

const parseMainHeader = (part: Uint8Array): MainHeader => {
  const json = parseJson(part, 'MAIN_HEADER', 'the main header', { part: 0 });
  if (!isObject(json)) return fail('MAIN_HEADER', 'the main header is not a JSON object', { part: 0 });
  const htype = json.htype;
  if (htype !== undefined && typeof htype !== 'string') return fail('MAIN_HEADER', 'the main header htype is not a string', { part: 0 });
  if (typeof htype === 'string' && !htype.startsWith('bsr_m')) {
    return fail('NOT_DATA', `the main header has htype ${JSON.stringify(htype)}, not a data message's bsr_m-*`, { part: 0, htype });
  }
  const pulseId = json.pulse_id;
  if (typeof pulseId !== 'number' || !Number.isSafeInteger(pulseId) || pulseId < 0) {
    return fail('MAIN_HEADER', `the main header pulse_id ${JSON.stringify(pulseId)} is not a non-negative integer`, { part: 0 });
  }
  const details = { part: 0, pulseId };
  const gt = json.global_timestamp;
  if (!isObject(gt)) return fail('MAIN_HEADER', 'the main header has no global_timestamp object', details);
  const sec = gt.sec ?? gt.epoch;
  const ns = gt.ns;
  if (typeof sec !== 'number' || !Number.isSafeInteger(sec) || sec < 0) {
    return fail('MAIN_HEADER', `global_timestamp.sec ${JSON.stringify(sec)} is not a non-negative integer`, details);
  }
  if (typeof ns !== 'number' || !Number.isInteger(ns) || ns < 0 || ns > 999_999_999) {
    return fail('MAIN_HEADER', `global_timestamp.ns ${JSON.stringify(ns)} is not an integer in 0..999999999`, details);
  }
  const hash = json.hash;
  if (typeof hash !== 'string' || hash.length === 0) return fail('MAIN_HEADER', 'the main header has no hash', details);
  const dhCompression = compressionOf(json.dh_compression, 'dh_compression', details);
  return { pulseId, globalTimestamp: { sec, ns }, hash, dhCompression };
};

const positiveInteger = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

/** Applies the protocol's defaults to one channel of a data header, or throws DATA_HEADER. */
const parseChannel = (c: unknown, index: number, details: BsreadDecodeDetails, maxValueBytes: number): BsreadChannelConfig => {
  const bad = (message: string): never => fail('DATA_HEADER', `data header channel ${index}: ${message}`, details);
  if (!isObject(c)) return bad('is not an object');
  const name = c.name;
  if (typeof name !== 'string' || name.length === 0) return bad('has no name');
  const at = { ...details, channel: name };
  const type = c.type ?? 'float64';
  if (typeof type !== 'string' || !(bsreadTypes as readonly string[]).includes(type)) {
    return bad(`${name} has the unknown type ${JSON.stringify(type)}`);
  }
  let shape = c.shape ?? [1];
  if (!Array.isArray(shape) || !shape.every(positiveInteger)) return bad(`${name} has the shape ${JSON.stringify(shape)}, not a list of positive integers`);
  if (shape.length === 0) shape = [1];
  const elements = (shape as number[]).reduce((a, b) => a * b, 1);
  if (type !== 'string' && elements * elementSize(type as BsreadType) > maxValueBytes) {
    return bad(`${name} has the shape ${JSON.stringify(shape)}, larger than the limit of ${maxValueBytes} bytes`);
  }
  const encoding = c.encoding ?? 'little';
  if (encoding !== 'little' && encoding !== 'big') return bad(`${name} has the encoding ${JSON.stringify(encoding)}, not little or big`);
  const compression = compressionOf(c.compression, `data header channel ${name}`, at);
  const modulo = c.modulo ?? 1;
  if (!positiveInteger(modulo)) return bad(`${name} has the modulo ${JSON.stringify(modulo)}, not a positive integer`);
  const offset = c.offset ?? 0;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    return bad(`${name} has the offset ${JSON.stringify(offset)}, not a non-negative integer`);
  }
  return {
    name,
    type: type as BsreadType,
    shape: Object.freeze([...(shape as number[])]),
    encoding,
    compression,
    modulo,
    offset,
  };
};

const planOf = (c: BsreadChannelConfig): ChannelPlan => {
  const elemSize = elementSize(c.type);
  return {
    name: c.name,
    elemSize,
    expectedBytes: c.type === 'string' ? -1 : c.shape.reduce((a, b) => a * b, 1) * elemSize,
    compression: c.compression,
    swap: c.encoding === 'big' && elemSize > 1,
    bigTimestamp: c.encoding === 'big',
  };
};

const parseDataHeader = (
  part: Uint8Array,
  main: MainHeader,
  maxValueBytes: number,
): ParsedDataHeader => {
  const details = { part: 1, pulseId: main.pulseId };
  let bytes: Uint8Array | null = part;
  try {
    if (main.dhCompression === 'bitshuffle_lz4') bytes = decompressBitshuffleLz4(part, 1, undefined, maxValueBytes);
    else if (main.dhCompression === 'lz4') bytes = decompressLz4(part, undefined, maxValueBytes);
  } catch (e) {
    if (e instanceof BsreadDecodeError) return fail('DATA_HEADER', `the ${main.dhCompression} data header: ${e.message}`, details);
    throw e;
  }
  if (bytes === null) return fail('DATA_HEADER', 'the compressed data header is empty', details);
  const json = parseJson(bytes, 'DATA_HEADER', 'the data header', details);
  if (!isObject(json) || !Array.isArray(json.channels)) return fail('DATA_HEADER', 'the data header has no channels list', details);
  const names = new Set<string>();
  const channels = json.channels.map((c, i) => {
    const channel = parseChannel(c, i, details, maxValueBytes);
    if (names.has(channel.name)) fail('DATA_HEADER', `the data header lists the channel ${channel.name} twice`, details);
    names.add(channel.name);
    return channel;
  });
  return { hash: main.hash, channels: Object.freeze(channels), plans: channels.map(planOf) };
};

const headerFor = (parts: readonly Uint8Array[], main: MainHeader, cache: DataHeaderCache, maxValueBytes: number): ParsedDataHeader => {
  const cached = cache.get(main.hash);
  if (cached !== undefined) return cached;
  const part = parts[1]!;
  if (part.length === 0) {
    return fail('UNKNOWN_HASH', `the data header part is empty and the hash ${main.hash} was not seen before`, {
      part: 1,
      pulseId: main.pulseId,
    });
  }
  const buffer = asBuffer(part);
  const refused = cache.refused(main.hash, buffer);
  if (refused !== undefined) {
    throw new BsreadDecodeError(refused.reason, refused.message, { ...refused.details, pulseId: main.pulseId });
  }
  cache.parses++;
  try {
    const header = parseDataHeader(part, main, maxValueBytes);
    cache.set(header);
    return header;
  } catch (e) {
    if (e instanceof BsreadDecodeError) cache.remember(main.hash, buffer, e);
    throw e;
  }
};

/** A copy of little-endian `bytes` in big-endian order, or the reverse. */
export const swapped = (bytes: Uint8Array, elemSize: number): Buffer => {
  const copy = Buffer.from(bytes);
  return swapInPlace(copy, elemSize);
};

const swapInPlace = (b: Buffer, elemSize: number): Buffer => {
  if (elemSize === 2) return b.swap16();
  if (elemSize === 4) return b.swap32();
  if (elemSize === 8) return b.swap64();
  return b;
};

/** A compressed value, decompressed (and byte-swapped in place when big-endian); null when empty. */
const decompressValue = (part: Uint8Array, plan: ChannelPlan, maxValueBytes: number, details: BsreadDecodeDetails): Uint8Array | null => {
  const expected = plan.expectedBytes >= 0 ? plan.expectedBytes : undefined;
  let bytes: Uint8Array | null;
  try {
    bytes =
      plan.compression === 'bitshuffle_lz4'
        ? decompressBitshuffleLz4(part, plan.elemSize, expected, maxValueBytes)
        : decompressLz4(part, expected, maxValueBytes);
  } catch (e) {
    if (e instanceof BsreadDecodeError) return fail(e.reason, `${plan.name}: ${e.message}`, details);
    throw e;
  }
  // Decompressed buffers are ours: swap in place.
  return bytes !== null && plan.swap ? swapInPlace(asBuffer(bytes), plan.elemSize) : bytes;
};

const u32 = (p: Uint8Array, at: number, little: boolean): number =>
  little ? (p[at]! | (p[at + 1]! << 8) | (p[at + 2]! << 16) | (p[at + 3]! << 24)) >>> 0 : ((p[at]! << 24) | (p[at + 1]! << 16) | (p[at + 2]! << 8) | p[at + 3]!) >>> 0;

/** Channel `i`'s timestamp part into `stamps` (NaN, NaN when it has none). */
const readTimestamp = (part: Uint8Array, big: boolean, stamps: Float64Array, i: number, pulseId: number, plan: ChannelPlan, partIndex: number): void => {
  if (part.length === 0) {
    stamps[2 * i] = stamps[2 * i + 1] = Number.NaN;
    return;
  }
  if (part.length !== 16) fail('TIMESTAMP', `${plan.name}: a timestamp of ${part.length} bytes, not 0 or 16`, { pulseId, channel: plan.name, part: partIndex });
  const little = !big;
  const secHi = u32(part, little ? 4 : 0, little);
  const secLo = u32(part, little ? 0 : 4, little);
  const nsHi = u32(part, little ? 12 : 8, little);
  const nsLo = u32(part, little ? 8 : 12, little);
  if ((secHi | secLo | nsHi | nsLo) === 0) {
    stamps[2 * i] = stamps[2 * i + 1] = Number.NaN;
    return;
  }
  if (secHi >= 2 ** 21 || nsHi !== 0 || nsLo > 999_999_999) {
    fail('TIMESTAMP', `${plan.name}: the timestamp (${secHi * 2 ** 32 + secLo} s, ${nsHi * 2 ** 32 + nsLo} ns) is out of range`, {
      pulseId,
      channel: plan.name,
      part: partIndex,
    });
  }
  stamps[2 * i] = secHi * 2 ** 32 + secLo;
  stamps[2 * i + 1] = nsLo;
};

/** Whether channel `plan`'s value part is copied into the pulse's packed values (bsreadValues.ts). */
const copied = (plan: ChannelPlan, part: Uint8Array): boolean => plan.compression === 'none' && part.length > 0 && part.length <= COPY_MAX_BYTES;

/** An uncompressed small value into `data` at `at`, its elements byte-swapped if big-endian. */
const copyValue = (part: Uint8Array, plan: ChannelPlan, data: Uint8Array, at: number): void => {
  const n = part.length;
  if (plan.swap) {
    const e = plan.elemSize;
    for (let k = 0; k < n; k += e) for (let b = 0; b < e; b++) data[at + k + b] = part[k + e - 1 - b]!;
  } else if (n <= 16) {
    for (let k = 0; k < n; k++) data[at + k] = part[k]!;
  } else {
    data.set(part, at);
  }
};

/**
 * Decodes one bsread multipart message. `cache` holds the stream's data headers by hash (one
 * cache per stream). Throws `BsreadDecodeError` for a message that does not decode, and nothing
 * else.
 */
export const decodeMessage = (parts: readonly Uint8Array[], cache: DataHeaderCache, options: DecodeOptions = {}): BsreadMessage => {
  const maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
  if (parts.length === 0) return fail('PART_COUNT', 'a bsread message has at least 2 parts, not 0');
  // The main header first: a one-part message may be a command (NOT_DATA) rather than a short one.
  const main = parseMainHeader(parts[0]!);
  if (parts.length < 2) return fail('PART_COUNT', `a bsread message has at least 2 parts, not ${parts.length}`, { pulseId: main.pulseId });
  const header = headerFor(parts, main, cache, maxValueBytes);
  const n = header.channels.length;
  if (parts.length !== 2 + 2 * n) {
    return fail('PART_COUNT', `${parts.length} parts where the data header's ${n} channels need ${2 + 2 * n}`, {
      pulseId: main.pulseId,
    });
  }
  const pulseId = main.pulseId;
  const plans = header.plans;
  let dataBytes = 0;
  for (let i = 0; i < n; i++) {
    const part = parts[2 + 2 * i]!;
    if (copied(plans[i]!, part)) dataBytes += part.length;
  }
  const { data, layout, stamps } = allocateValues(n, dataBytes);
  let views: Array<Uint8Array | null> | undefined;
  const nullOnError = options.channelErrors === 'null';
  let wireBytes = parts[0]!.length + parts[1]!.length;
  let at = 0;
  for (let i = 0; i < n; i++) {
    const plan = plans[i]!;
    const valuePart = parts[2 + 2 * i]!;
    const timestampPart = parts[3 + 2 * i]!;
    wireBytes += valuePart.length + timestampPart.length;
    try {
      let view: Uint8Array | null = null;
      if (valuePart.length === 0) {
        layout[2 * i] = NO_VALUE;
        layout[2 * i + 1] = 0;
      } else if (plan.compression === 'none') {
        if (plan.expectedBytes >= 0 && valuePart.length !== plan.expectedBytes) {
          fail('VALUE_SIZE', `${plan.name}: ${valuePart.length} bytes where its type and shape take ${plan.expectedBytes}`, {
            pulseId,
            channel: plan.name,
            part: 2 + 2 * i,
          });
        }
        if (copied(plan, valuePart)) {
          copyValue(valuePart, plan, data, at);
          layout[2 * i] = at;
          layout[2 * i + 1] = valuePart.length;
          at += valuePart.length;
        } else {
          // Big: little-endian as received (no copy); big-endian swapped in a copy.
          view = plan.swap ? swapped(valuePart, plan.elemSize) : valuePart;
        }
      } else {
        view = decompressValue(valuePart, plan, maxValueBytes, { pulseId, channel: plan.name, part: 2 + 2 * i });
        if (view === null) {
          layout[2 * i] = NO_VALUE;
          layout[2 * i + 1] = 0;
        }
      }
      if (view !== null) {
        // Offsets are int32 (bsreadValues.ts); no value near 2 GiB fits the defaults anyway.
        if (view.length > 0x7fff_ffff) fail('VALUE_SIZE', `${plan.name}: a value of ${view.length} bytes (at most 2 GiB - 1)`, { pulseId, channel: plan.name, part: 2 + 2 * i });
        (views ??= new Array<Uint8Array | null>(n).fill(null))[i] = view;
        layout[2 * i] = IN_VIEWS;
        layout[2 * i + 1] = view.length;
      }
      readTimestamp(timestampPart, plan.bigTimestamp, stamps, i, pulseId, plan, 3 + 2 * i);
    } catch (e) {
      if (!nullOnError || !(e instanceof BsreadDecodeError)) throw e;
      options.onChannelError?.(e);
      layout[2 * i] = NO_VALUE;
      layout[2 * i + 1] = 0;
      stamps[2 * i] = stamps[2 * i + 1] = Number.NaN;
      if (views !== undefined) views[i] = null;
    }
  }
  return {
    pulseId,
    globalTimestamp: main.globalTimestamp,
    hash: main.hash,
    channels: header.channels,
    values: new BsreadValues(data, layout, stamps, views),
    wireBytes,
  };
};
