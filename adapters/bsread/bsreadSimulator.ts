/**
 * A bsread stream simulator for the demo, the tests and the benchmarks: binds a PUSH or PUB
 * socket and sends one message per pulse at a steady rate, as an IOC or a camera server would.
 *
 * Everything it sends can be recomputed from the options:
 * - pulse ids run from `startPulseId` upwards, one per message, skipping the `gaps`;
 * - the global timestamp of pulse p is `expectedTimestamp(p)` (100 Hz from 2023-11-14T22:13:20Z)
 *   unless `wallClock` is set; every channel with a value carries the global timestamp, as
 *   bsread's Python sender does;
 * - channel i has no value in pulse p when `missingEvery` is set and (p + i) % missingEvery === 0;
 * - a value is `expectedValue(channel, p)`: a pure function of the channel's name, type and shape
 *   and of the pulse id. Values larger than 64 KiB (waveforms of images) depend on p % 16 only,
 *   so that the simulator encodes (and compresses) each of them once and then sends the same
 *   buffers again: hundreds of Hz of 2.6 MB images cost no more than the socket's copy;
 * - `typeChangeAt` changes a channel's type and shape from a pulse on (a new data header, a new
 *   hash), as a Python sender does when a value's type changes.
 *
 * `simulator.expected(p)` gives the channels and values of pulse p, null where the channel has
 * no value, undefined for a pulse the simulator does not send.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import * as zmq from 'zeromq';
import type { Logger } from '../../actors/runtime/logger.js';
import { silentLogger } from '../../actors/runtime/logger.js';
import { encodeDataHeader, encodeMessage, encodeValue, type BsreadChannelInput, type EncodableValue, type EncodedDataHeader } from './bsreadEncoder.js';
import {
  elementSize,
  type BsreadByteOrder,
  type BsreadChannelConfig,
  type BsreadCompression,
  type BsreadTimestamp,
  type BsreadType,
} from './bsreadMessage.js';

/** Values above this many bytes cycle through `LARGE_VALUE_VARIANTS` buffers (by pulse id). */
export const LARGE_VALUE_BYTES = 64 * 1024;
export const LARGE_VALUE_VARIANTS = 16;

// ---------------------------------------------------------------------------------------------
// Deterministic values.

const fnv1a = (s: string): number => {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
};

/** Mixes two 32-bit numbers into one (murmur3's finaliser). */
const mix = (a: number, b: number): number => {
  let h = Math.imul(a ^ ((b + 0x9e3779b9) | 0), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
};

type ValueShape = Pick<BsreadChannelConfig, 'name' | 'type' | 'shape'>;

const elementsOf = (channel: ValueShape): number => channel.shape.reduce((a, b) => a * b, 1);

/** True when the channel's values cycle through `LARGE_VALUE_VARIANTS` buffers. */
export const isLargeValue = (channel: ValueShape): boolean =>
  channel.type !== 'string' && elementsOf(channel) * elementSize(channel.type) > LARGE_VALUE_BYTES;

/**
 * The value the simulator sends for a channel in a pulse, as little-endian raw elements (the
 * decoded form of bsreadMessage.ts). Integers cover their whole range (negative, high bits),
 * except large arrays, which look like 12-bit detector data (a ramp plus noise); floats are
 * multiples of 1/8 in [-125, 125] (exact in float32); strings are `<name> #<pulse id> µ`.
 */
export const expectedValue = (channel: ValueShape, pulseId: number): Uint8Array => {
  if (channel.type === 'string') return new TextEncoder().encode(`${channel.name} #${pulseId} µ`);
  const out = new Uint8Array(elementsOf(channel) * elementSize(channel.type));
  fillValue(channel, pulseId, out);
  return out;
};

const fillValue = (channel: ValueShape, pulseId: number, out: Uint8Array): void => {
  const large = isLargeValue(channel);
  const variant = large ? pulseId % LARGE_VALUE_VARIANTS : pulseId;
  const seed = fnv1a(`${channel.name}|${channel.type}|${channel.shape.join('x')}`);
  const base = mix(mix(seed, variant % 2 ** 32), Math.floor(variant / 2 ** 32));
  const n = elementsOf(channel);
  const es = elementSize(channel.type);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  switch (channel.type) {
    case 'bool':
      for (let i = 0; i < n; i++) out[i] = mix(base, i) & 1;
      return;
    case 'float32':
      for (let i = 0; i < n; i++) view.setFloat32(4 * i, ((mix(base, i) % 2001) - 1000) / 8, true);
      return;
    case 'float64':
      for (let i = 0; i < n; i++) view.setFloat64(8 * i, ((mix(base, i) % 2001) - 1000) / 8, true);
      return;
    default:
      break;
  }
  if (large) {
    // Detector-like: a ramp across the row plus 4 bits of xorshift noise, 12 bits in all.
    let s = base | 1;
    for (let i = 0; i < n; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      const x = 100 + ((i * 7 + base) & 0x7ff) + (s & 0xf);
      const o = i * es;
      out[o] = x;
      if (es > 1) out[o + 1] = x >>> 8;
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    const o = i * es;
    const lo = mix(base, 2 * i);
    if (es === 8) view.setUint32(o + 4, mix(base, 2 * i + 1), true);
    if (es >= 4) view.setUint32(o, lo, true);
    else if (es === 2) view.setUint16(o, lo & 0xffff, true);
    else out[o] = lo & 0xff;
  }
};

/** The global timestamp of a pulse: 100 Hz from 1,700,000,000 s since the epoch. */
export const expectedTimestamp = (pulseId: number): BsreadTimestamp => ({
  sec: 1_700_000_000 + Math.floor(pulseId / 100),
  ns: (pulseId % 100) * 10_000_000,
});

/** Channel i has no value in pulse p when (p + i) % missingEvery === 0. */
export const isMissing = (channelIndex: number, pulseId: number, missingEvery: number | undefined): boolean =>
  missingEvery !== undefined && missingEvery > 0 && (pulseId + channelIndex) % missingEvery === 0;

/** One of every scalar type, waveforms, a 2-D array and a uint16 camera image. */
export const defaultSimulatedChannels = (
  options: { imageWidth?: number; imageHeight?: number; waveformLength?: number } = {},
): BsreadChannelInput[] => {
  const width = options.imageWidth ?? 64;
  const height = options.imageHeight ?? 48;
  return [
    ...(['bool', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'string'] as const).map(
      (type) => ({ name: `SIM:SCALAR:${type.toUpperCase()}`, type, shape: [1] }),
    ),
    { name: 'SIM:WAVE:FLOAT64', type: 'float64', shape: [options.waveformLength ?? 1024] },
    { name: 'SIM:WAVE:INT32', type: 'int32', shape: [17] },
    { name: 'SIM:ARRAY:INT16', type: 'int16', shape: [3, 2] },
    // The wire shape is fastest-varying first: [width, height] is an HDF5 [height, width] image.
    { name: 'SIM:CAMERA:FPICTURE', type: 'uint16', shape: [width, height] },
  ];
};

// ---------------------------------------------------------------------------------------------

export interface TypeChange {
  readonly pulseId: number;
  readonly channel: string;
  readonly type: BsreadType;
  readonly shape?: readonly number[];
}

export interface BsreadSimulatorOptions {
  /** Where to bind, e.g. `tcp://127.0.0.1:9999`, `tcp://127.0.0.1:*` (any free port) or `ipc://…`. */
  readonly address: string;
  /** Default push (bsread's default: one consumer). */
  readonly mode?: 'push' | 'pub';
  /** Messages per second; Infinity sends as fast as the socket takes them. */
  readonly rateHz: number;
  /** Default `defaultSimulatedChannels()`. */
  readonly channels?: readonly BsreadChannelInput[];
  /** Default 0. */
  readonly startPulseId?: number;
  /** Pulse ids not sent (the stream skips them, as after a lost pulse). */
  readonly gaps?: Iterable<number>;
  /** A channel without value every n pulses (see `isMissing`). */
  readonly missingEvery?: number;
  /** For channels that do not name their own. Default none. */
  readonly compression?: BsreadCompression;
  /** For channels that do not name their own. Default little. */
  readonly byteOrder?: BsreadByteOrder;
  /** Data header compression. Default none. */
  readonly dhCompression?: BsreadCompression;
  /** Byte order of lz4 length prefixes. Default little (bsread Python 2.0.2). */
  readonly lz4PrefixOrder?: BsreadByteOrder;
  readonly typeChangeAt?: TypeChange | readonly TypeChange[];
  /** Stop after this many messages. Default: until `stop()`. */
  readonly maxMessages?: number;
  /** ZMQ send high-water mark. Default 100. */
  readonly sendHighWaterMark?: number;
  /** pub mode: wait until this many subscribers have subscribed before the first message. Default 0. */
  readonly waitForSubscribers?: number;
  /** Global timestamps from the clock instead of `expectedTimestamp`. */
  readonly wallClock?: boolean;
  readonly logger?: Logger;
}

export interface ExpectedPulse {
  readonly pulseId: number;
  readonly channels: readonly BsreadChannelConfig[];
  /** Little-endian raw values, null where the channel has no value in this pulse. */
  readonly values: readonly (Uint8Array | null)[];
  readonly globalTimestamp: BsreadTimestamp;
}

export interface BsreadSimulator {
  /** The bound endpoint (with the port chosen for `tcp://host:*`). */
  readonly address: string;
  /** Messages sent so far. */
  sent(): number;
  /** The pulse id of the last message sent, undefined before the first. */
  lastPulseId(): number | undefined;
  /** The pulse ids sent so far, in order. */
  pulseIds(): number[];
  /** Pulse ids the simulator skips (from `gaps`) between the first and the last sent. */
  skippedPulseIds(): number[];
  /** What pulse p carries (whether sent yet or not); undefined for a pulse the simulator skips. */
  expected(pulseId: number): ExpectedPulse | undefined;
  /**
   * Resolves when the simulator stops (maxMessages reached or stop()); rejects on a socket error.
   * The last messages may still be queued in the socket then: they get its linger (1 s) to leave,
   * so a process that exits right after `done` can lose them.
   */
  readonly done: Promise<void>;
  /** Stops sending and closes the socket (queued messages get up to 1 s to leave). */
  stop(): Promise<void>;
}

interface Epoch {
  readonly fromPulseId: number;
  readonly header: EncodedDataHeader;
  /** Wire buffers of large values, by channel index and variant, made on first use. */
  readonly large: Map<number, Buffer>;
}

export const startBsreadSimulator = async (options: BsreadSimulatorOptions): Promise<BsreadSimulator> => {
  const logger = options.logger ?? silentLogger;
  const mode = options.mode ?? 'push';
  const startPulseId = options.startPulseId ?? 0;
  const gaps = new Set(options.gaps ?? []);
  const missingEvery = options.missingEvery;
  const lz4PrefixOrder = options.lz4PrefixOrder ?? 'little';
  if (!(options.rateHz > 0)) throw new RangeError(`rateHz must be positive, not ${options.rateHz}`);
  const baseChannels = (options.channels ?? defaultSimulatedChannels()).map((c) => ({
    ...c,
    encoding: c.encoding ?? options.byteOrder ?? 'little',
    compression: c.compression ?? options.compression ?? 'none',
  }));
  const changes = [options.typeChangeAt ?? []].flat().sort((a, b) => a.pulseId - b.pulseId);
  for (const change of changes) {
    if (!baseChannels.some((c) => c.name === change.channel)) throw new RangeError(`typeChangeAt names the unknown channel ${change.channel}`);
  }
  // One data header per stretch of pulses between type changes.
  const epochs: Epoch[] = [];
  let current: BsreadChannelInput[] = baseChannels;
  const header = (channels: readonly BsreadChannelInput[]): EncodedDataHeader =>
    encodeDataHeader(channels, { compression: options.dhCompression ?? 'none', lz4PrefixOrder });
  epochs.push({ fromPulseId: -Infinity, header: header(current), large: new Map() });
  for (const change of changes) {
    current = current.map((c) => (c.name === change.channel ? { ...c, type: change.type, shape: change.shape ?? c.shape } : c));
    epochs.push({ fromPulseId: change.pulseId, header: header(current), large: new Map() });
  }
  const epochOf = (pulseId: number): Epoch => {
    let e = epochs[0]!;
    for (const x of epochs) if (x.fromPulseId <= pulseId) e = x;
    return e;
  };
  const timestampOf = (pulseId: number): BsreadTimestamp => {
    if (!options.wallClock) return expectedTimestamp(pulseId);
    const ms = Date.now();
    return { sec: Math.floor(ms / 1000), ns: (ms % 1000) * 1_000_000 };
  };

  const largeWire = (epoch: Epoch, index: number, pulseId: number): Buffer => {
    const key = index * LARGE_VALUE_VARIANTS + (pulseId % LARGE_VALUE_VARIANTS);
    let wire = epoch.large.get(key);
    if (wire === undefined) {
      const channel = epoch.header.channels[index]!;
      wire = encodeValue(channel, expectedValue(channel, pulseId), { lz4PrefixOrder });
      epoch.large.set(key, wire);
    }
    return wire;
  };

  /** Bytes of a value that goes on the wire as generated (little-endian, uncompressed, fixed size); 0 otherwise. */
  const plainBytes = (c: BsreadChannelConfig): number =>
    c.type !== 'string' && c.compression === 'none' && (c.encoding === 'little' || elementSize(c.type) === 1) && !isLargeValue(c)
      ? elementsOf(c) * elementSize(c.type)
      : 0;
  const arenaBytes = new Map<Epoch, number>();

  const valuesOf = (epoch: Epoch, pulseId: number): EncodableValue[] => {
    // Plain small values are generated straight into one buffer per message (a fresh one: the
    // socket may still hold the last one's parts), the others encoded one by one.
    let size = arenaBytes.get(epoch);
    if (size === undefined) arenaBytes.set(epoch, (size = epoch.header.channels.reduce((a, c) => a + plainBytes(c), 0)));
    const arena = size > 0 ? Buffer.allocUnsafe(size) : undefined;
    let offset = 0;
    return epoch.header.channels.map((channel, i) => {
      if (isMissing(i, pulseId, missingEvery)) return null;
      if (isLargeValue(channel)) return { wire: largeWire(epoch, i, pulseId) };
      const bytes = plainBytes(channel);
      if (bytes > 0 && arena !== undefined) {
        const wire = arena.subarray(offset, (offset += bytes));
        fillValue(channel, pulseId, wire);
        return { wire };
      }
      return expectedValue(channel, pulseId);
    });
  };

  const expected = (pulseId: number): ExpectedPulse | undefined => {
    if (pulseId < startPulseId || gaps.has(pulseId) || !Number.isSafeInteger(pulseId)) return undefined;
    const epoch = epochOf(pulseId);
    return {
      pulseId,
      channels: epoch.header.channels,
      values: epoch.header.channels.map((c, i) => (isMissing(i, pulseId, missingEvery) ? null : expectedValue(c, pulseId))),
      globalTimestamp: expectedTimestamp(pulseId),
    };
  };

  // Encode the large values of the first stretch before the first message, so the rate holds from the start.
  const first = epochOf(startPulseId);
  first.header.channels.forEach((channel, i) => {
    if (isLargeValue(channel)) for (let v = 0; v < LARGE_VALUE_VARIANTS; v++) largeWire(first, i, startPulseId + v);
  });

  const hwm = options.sendHighWaterMark ?? 100;
  const waitFor = mode === 'pub' ? (options.waitForSubscribers ?? 0) : 0;
  const socket: zmq.Push | zmq.Publisher | zmq.XPublisher =
    mode === 'push'
      ? new zmq.Push({ sendHighWaterMark: hwm, linger: 1000 })
      : waitFor > 0
        ? new zmq.XPublisher({ sendHighWaterMark: hwm, linger: 1000 })
        : new zmq.Publisher({ sendHighWaterMark: hwm, linger: 1000 });
  await socket.bind(options.address);
  const address = socket.lastEndpoint ?? options.address;
  logger.info({ address, mode, rateHz: options.rateHz, channels: baseChannels.length }, 'bsread simulator bound');

  let sent = 0;
  let last: number | undefined;
  let stopping = false;
  let nextPulseId = startPulseId;
  const pacing = new AbortController();

  const run = async (): Promise<void> => {
    if (socket instanceof zmq.XPublisher) {
      try {
        for (let k = 0; k < waitFor && !stopping; k++) await socket.receive();
      } catch (e) {
        if (stopping) return;
        throw e;
      }
    }
    const periodMs = Number.isFinite(options.rateHz) ? 1000 / options.rateHz : 0;
    const t0 = performance.now();
    while (!stopping && (options.maxMessages === undefined || sent < options.maxMessages)) {
      while (gaps.has(nextPulseId)) nextPulseId++;
      const pulseId = nextPulseId++;
      const epoch = epochOf(pulseId);
      const parts = encodeMessage({
        header: epoch.header,
        pulseId,
        globalTimestamp: timestampOf(pulseId),
        values: valuesOf(epoch, pulseId),
        lz4PrefixOrder,
      });
      try {
        await socket.send(parts);
      } catch (e) {
        // stop() closes a socket stuck on a PUSH without consumer: that send was given up, not failed.
        if (stopping) break;
        throw e;
      }
      sent++;
      last = pulseId;
      if (periodMs > 0) {
        const wait = t0 + sent * periodMs - performance.now();
        // Behind schedule (a slow consumer, a busy machine): send the next at once, no burst limit.
        if (wait > 1) await sleep(wait, undefined, { signal: pacing.signal }).catch(() => undefined);
      } else if (sent % 64 === 0) {
        // As fast as possible, but let timers and stop() in now and then.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
  };

  const done = run().finally(() => {
    if (!socket.closed) socket.close();
    logger.info({ address, sent, lastPulseId: last }, 'bsread simulator stopped');
  });
  // Handled by whoever awaits `done`; never an unhandled rejection of its own.
  done.catch(() => undefined);

  return {
    address,
    sent: () => sent,
    lastPulseId: () => last,
    pulseIds: () => {
      const ids: number[] = [];
      for (let p = startPulseId; last !== undefined && p <= last; p++) if (!gaps.has(p)) ids.push(p);
      return ids;
    },
    skippedPulseIds: () => [...gaps].filter((p) => last !== undefined && p > startPulseId && p < last).sort((a, b) => a - b),
    expected,
    done,
    stop: async () => {
      stopping = true;
      pacing.abort();
      // A send blocked on a full PUSH pipe (no consumer) never returns: closing the socket ends it.
      const guard = new AbortController();
      const closer = sleep(500, undefined, { signal: guard.signal }).then(
        () => socket.close(),
        () => undefined,
      );
      await done.catch(() => undefined);
      guard.abort();
      await closer;
    },
  };
};
