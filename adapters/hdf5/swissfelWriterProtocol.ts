/**
 * What passes between an acquisition and its SwissFEL writer thread (swissfelWriterThread.ts,
 * swissfelWriterWorker.ts), and how a pulse is packed for the trip.
 *
 * A pulse's values (bsreadValues.ts) are a block of small values' bytes, views of big ones (an
 * image in a pooled receive buffer), offsets and timestamps; structured-cloned as they are, every
 * view would copy the whole buffer it lives in. So a pulse travels as one region of the shared
 * memory the thread was given at open (sharedPulseRing.ts): timestamps, offsets, then the bytes,
 * and the message says only where; or, when that is full, as one ArrayBuffer that is transferred
 * (not copied again) with offsets and timestamps beside it. A value kept as a view that is already
 * in a SharedArrayBuffer (an image in a pooled receive buffer, framePool.ts) is passed as it is,
 * shared, not copied; the sender pins its buffer until the thread acks the pulse (framePins.ts).
 * The channel list is sent once per distinct list.
 */
import type { BsreadChannelConfig, BsreadMessage } from '../bsread/bsreadMessage.js';
import { BsreadValues, IN_VIEWS, NO_VALUE } from '../bsread/bsreadValues.js';
import type { OpenSwissfelFileOptions, SwissfelFileResult, SwissfelFileStats } from './swissfelWriter.js';

export interface PackedPulse {
  readonly pulseId: number;
  readonly globalTimestamp: readonly [number, number];
  readonly hash: string;
  readonly wireBytes: number;
  /** Identifies the channel list; `channels` comes with the first pulse that uses it. */
  readonly channelsId: number;
  readonly channels?: readonly BsreadChannelConfig[];
  /**
   * Where the pulse starts in the ring the thread was given at open: its timestamps (2 float64
   * per value: seconds, nanoseconds; NaN: none), its offsets (2 int32 per value, as `offsets`),
   * then the values' bytes (`dataBytes`).
   */
  readonly ringAt?: number;
  /** Or, when the ring had no room: the values' bytes here, offsets and timestamps beside. */
  readonly data?: ArrayBuffer;
  /** Per value: start in the values' bytes and length; start -1: no value; -2: in `shared`. */
  readonly offsets?: Int32Array;
  readonly timestamps?: Float64Array;
  /** Values in the pulse (one per channel of its list): checked against the list on arrival. */
  readonly valueCount: number;
  /** Bytes of the values' block. */
  readonly dataBytes: number;
  readonly shared?: ReadonlyArray<Uint8Array | null>;
}

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly details?: Record<string, unknown>;
}

export type ToWriter =
  | {
      readonly op: 'open';
      readonly options: OpenSwissfelFileOptions;
      readonly ring?: SharedArrayBuffer;
      /** The test hook of writerStallTestHook.ts: stop this long after the file's first pulse. */
      readonly stallMs?: number;
    }
  | { readonly op: 'pulse'; readonly pulseId: number; readonly pulse: PackedPulse | null; readonly bytes: number }
  | { readonly op: 'finish' }
  | { readonly op: 'abort' };

export type FromWriter =
  | { readonly op: 'opened'; readonly draftPath: string; readonly finalPath: string }
  | { readonly op: 'openFailed'; readonly error: SerializedError }
  /**
   * Pulses and bytes taken since the last ack, and the stats after them; `buffers`: the `data` of
   * big pulses written, handed back for the next pulses (see `RECYCLE_MIN_BYTES`).
   */
  | { readonly op: 'ack'; readonly pulses: number; readonly bytes: number; readonly stats: SwissfelFileStats; readonly buffers?: ArrayBuffer[] }
  | { readonly op: 'writeFailed'; readonly error: SerializedError }
  | { readonly op: 'finished'; readonly result: SwissfelFileResult }
  | { readonly op: 'finishFailed'; readonly error: SerializedError }
  | { readonly op: 'aborted'; readonly draftPath: string };

/**
 * A pulse's `data` of at least this size goes back to the acquisition once written, to carry a
 * later pulse: an image-sized buffer new for every pulse costs its pages afresh each time (page
 * faults and zeroing were 20% of the receiving thread at 300 images/s); the same few buffers
 * going back and forth cost nothing of the kind.
 */
export const RECYCLE_MIN_BYTES = 64 * 1024;

const isShared = (bytes: Uint8Array): boolean => typeof SharedArrayBuffer !== 'undefined' && bytes.buffer instanceof SharedArrayBuffer;

/** Packs a pulse; returns it with the buffers to transfer. */
export const packPulse = (
  message: BsreadMessage,
  channelsId: number,
  withChannels: boolean,
  /** A buffer of exactly `bytes` bytes to fill (its content is overwritten), if one is at hand. */
  reuse?: (bytes: number) => ArrayBuffer | undefined,
  /** Where in the thread's shared ring `bytes` bytes may go (8-byte aligned), if there is room. */
  ring?: { readonly buffer: SharedArrayBuffer; readonly take: (bytes: number) => number | undefined },
): { pulse: PackedPulse; transfer: ArrayBuffer[]; bytes: number } => {
  const values = message.values;
  const n = values.length;
  if (n !== message.channels.length) throw new Error(`pulse ${message.pulseId} has ${n} values for ${message.channels.length} channels`);
  const layout = values.layout;
  // The copied values travel as the block they are when the message has all of them; a channel
  // selection's are gathered (the block also holds those of the channels left out). The viewed
  // ones (images) go each after them.
  const copied = values.data;
  let copiedBytes = 0;
  let viewedBytes = 0;
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const start = layout[2 * i]!;
    if (start === NO_VALUE) continue;
    const length = layout[2 * i + 1]!;
    bytes += length;
    if (start !== IN_VIEWS) copiedBytes += length;
    else if (!isShared(values.views![i]!)) viewedBytes += length;
  }
  const whole = copiedBytes === copied.byteLength;
  const dataBytes = (whole ? copied.byteLength : copiedBytes) + viewedBytes;
  // Offsets are int32 on both sides (a value of 2 GiB is refused by the decoder already).
  if (dataBytes > 0x7fff_ffff) throw new RangeError(`pulse ${message.pulseId}: ${dataBytes} bytes of values, more than a pulse may carry (2 GiB - 1)`);
  // In the ring, timestamps and offsets go first in the pulse's region: nothing new per pulse
  // on either side but the message itself (a transferred buffer is new external memory for V8).
  const metaBytes = 24 * n;
  const ringAt = ring?.take(metaBytes + dataBytes);
  let offsets: Int32Array;
  let timestamps: Float64Array;
  let into: Uint8Array;
  let data: ArrayBuffer | undefined;
  if (ringAt !== undefined) {
    timestamps = new Float64Array(ring!.buffer, ringAt, 2 * n);
    offsets = new Int32Array(ring!.buffer, ringAt + 16 * n, 2 * n);
    into = new Uint8Array(ring!.buffer, ringAt + metaBytes, dataBytes);
    timestamps.set(values.stamps);
    offsets.set(layout);
  } else {
    timestamps = values.stamps.slice();
    offsets = layout.slice();
    data = (dataBytes >= RECYCLE_MIN_BYTES ? reuse?.(dataBytes) : undefined) ?? new ArrayBuffer(dataBytes);
    into = new Uint8Array(data, 0, dataBytes);
  }
  let at = 0;
  if (whole) {
    into.set(copied, 0);
    at = copied.byteLength;
  } else {
    for (let i = 0; i < n; i++) {
      const start = layout[2 * i]!;
      if (start < 0) continue;
      const length = layout[2 * i + 1]!;
      into.set(copied.subarray(start, start + length), at);
      offsets[2 * i] = at;
      at += length;
    }
  }
  let shared: Array<Uint8Array | null> | undefined;
  if (values.views !== undefined) {
    for (let i = 0; i < n; i++) {
      const view = values.views[i];
      if (view === null || view === undefined || offsets[2 * i] !== IN_VIEWS) continue;
      if (isShared(view)) {
        (shared ??= new Array<Uint8Array | null>(n).fill(null))[i] = view;
      } else {
        into.set(view, at);
        offsets[2 * i] = at;
        at += view.byteLength;
      }
    }
  }
  const pulse: PackedPulse = {
    pulseId: message.pulseId,
    globalTimestamp: [message.globalTimestamp.sec, message.globalTimestamp.ns],
    hash: message.hash,
    wireBytes: message.wireBytes,
    channelsId,
    ...(withChannels ? { channels: message.channels } : {}),
    ...(data !== undefined ? { data, offsets, timestamps } : { ringAt }),
    valueCount: n,
    dataBytes,
    ...(shared ? { shared } : {}),
  };
  const transfer = data !== undefined ? [offsets.buffer as ArrayBuffer, timestamps.buffer as ArrayBuffer, data] : [];
  return { pulse, transfer, bytes };
};

/** The message again, on the writer's side; `channels` is the list `channelsId` named. */
export const unpackPulse = (pulse: PackedPulse, channels: readonly BsreadChannelConfig[], ring?: SharedArrayBuffer): BsreadMessage => {
  const n = channels.length;
  if (pulse.valueCount !== n) throw new Error(`pulse ${pulse.pulseId} has ${pulse.valueCount} values for ${n} channels`);
  const base = pulse.ringAt;
  let values: BsreadValues;
  // Shared values keep their IN_VIEWS mark and sit in `shared` at their index: the views.
  if (base !== undefined) {
    if (ring === undefined) throw new Error(`pulse ${pulse.pulseId} is in a shared ring this thread was not given`);
    values = new BsreadValues(
      new Uint8Array(ring, base + 24 * n, pulse.dataBytes),
      new Int32Array(ring, base + 16 * n, 2 * n),
      new Float64Array(ring, base, 2 * n),
      pulse.shared,
    );
  } else {
    values = new BsreadValues(new Uint8Array(pulse.data!, 0, pulse.dataBytes), pulse.offsets!, pulse.timestamps!, pulse.shared);
  }
  return {
    pulseId: pulse.pulseId,
    globalTimestamp: { sec: pulse.globalTimestamp[0], ns: pulse.globalTimestamp[1] },
    hash: pulse.hash,
    channels,
    values,
    wireBytes: pulse.wireBytes,
  };
};

export const serializeError = (e: unknown): SerializedError => {
  if (e instanceof Error) {
    const { code, details } = e as Error & { code?: unknown; details?: unknown };
    return {
      name: e.name,
      message: e.message,
      ...(typeof code === 'string' ? { code } : {}),
      ...(details !== null && typeof details === 'object' ? { details: details as Record<string, unknown> } : {}),
    };
  }
  return { name: 'Error', message: String(e) };
};
