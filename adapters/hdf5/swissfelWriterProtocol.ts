/**
 * What passes between an acquisition and its SwissFEL writer thread (swissfelWriterThread.ts,
 * swissfelWriterWorker.ts), and how a pulse is packed for the trip.
 *
 * A BsreadMessage of 200 channels is 200 small objects and 200 views of the receiver's read
 * buffers; structured-cloned as it is, every view would copy the whole buffer it lives in. So a
 * pulse travels as a few typed arrays: the values' bytes gathered in one region of the shared
 * memory the thread was given at open (sharedPulseRing.ts), or, when that is full, in one
 * ArrayBuffer that is transferred (not copied again); offsets, timestamps. A value already in a SharedArrayBuffer is
 * passed as it is, shared, never copied (no receiver makes them today: see zmtpSocket.ts). The
 * channel list is sent once per distinct list.
 */
import type { BsreadChannelConfig, BsreadMessage, BsreadValue } from '../bsread/bsreadMessage.js';
import type { OpenSwissfelFileOptions, SwissfelFileResult, SwissfelFileStats } from './swissfelWriter.js';

export interface PackedPulse {
  readonly pulseId: number;
  readonly globalTimestamp: readonly [number, number];
  readonly hash: string;
  readonly wireBytes: number;
  /** Identifies the channel list; `channels` comes with the first pulse that uses it. */
  readonly channelsId: number;
  readonly channels?: readonly BsreadChannelConfig[];
  /** The values' bytes, one after the other: here, or in the shared ring from `ringAt` on. */
  readonly data?: ArrayBuffer;
  /** Where the values' bytes start in the ring the thread was given at open. */
  readonly ringAt?: number;
  /** Per value: start in the values' bytes and length; start -1: no value; -2: in `shared`. */
  readonly offsets: Float64Array;
  /** Per value: seconds and nanoseconds; NaN: no timestamp. */
  readonly timestamps: Float64Array;
  readonly shared?: ReadonlyArray<Uint8Array | null>;
}

export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly details?: Record<string, unknown>;
}

export type ToWriter =
  | { readonly op: 'open'; readonly options: OpenSwissfelFileOptions; readonly ring?: SharedArrayBuffer }
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
  /** Where in the thread's shared ring `bytes` bytes may go, if there is room. */
  ring?: { readonly buffer: SharedArrayBuffer; readonly take: (bytes: number) => number | undefined },
): { pulse: PackedPulse; transfer: ArrayBuffer[]; bytes: number } => {
  const n = message.values.length;
  const offsets = new Float64Array(n * 2);
  const timestamps = new Float64Array(n * 2);
  let total = 0;
  let anyShared = false;
  for (const v of message.values) {
    if (v.bytes === null) continue;
    if (isShared(v.bytes)) anyShared = true;
    else total += v.bytes.byteLength;
  }
  const ringAt = total > 0 ? ring?.take(total) : undefined;
  const data = ringAt !== undefined ? undefined : ((total >= RECYCLE_MIN_BYTES ? reuse?.(total) : undefined) ?? new ArrayBuffer(total));
  const into = data !== undefined ? new Uint8Array(data) : new Uint8Array(ring!.buffer, ringAt, total);
  const shared: Array<Uint8Array | null> | undefined = anyShared ? new Array<Uint8Array | null>(n).fill(null) : undefined;
  let at = 0;
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const v = message.values[i]!;
    if (v.bytes === null) offsets[2 * i] = -1;
    else if (shared !== undefined && isShared(v.bytes)) {
      offsets[2 * i] = -2;
      offsets[2 * i + 1] = v.bytes.byteLength;
      shared[i] = v.bytes;
    } else {
      into.set(v.bytes, at);
      offsets[2 * i] = at;
      offsets[2 * i + 1] = v.bytes.byteLength;
      at += v.bytes.byteLength;
    }
    if (v.bytes !== null) bytes += v.bytes.byteLength;
    timestamps[2 * i] = v.timestamp?.sec ?? Number.NaN;
    timestamps[2 * i + 1] = v.timestamp?.ns ?? Number.NaN;
  }
  const pulse: PackedPulse = {
    pulseId: message.pulseId,
    globalTimestamp: [message.globalTimestamp.sec, message.globalTimestamp.ns],
    hash: message.hash,
    wireBytes: message.wireBytes,
    channelsId,
    ...(withChannels ? { channels: message.channels } : {}),
    ...(data !== undefined ? { data } : { ringAt }),
    offsets,
    timestamps,
    ...(shared ? { shared } : {}),
  };
  const transfer = [offsets.buffer as ArrayBuffer, timestamps.buffer as ArrayBuffer];
  if (data !== undefined) transfer.push(data);
  return { pulse, transfer, bytes };
};

/** The message again, on the writer's side; `channels` is the list `channelsId` named. */
export const unpackPulse = (pulse: PackedPulse, channels: readonly BsreadChannelConfig[], ring?: SharedArrayBuffer): BsreadMessage => {
  const values: BsreadValue[] = new Array<BsreadValue>(channels.length);
  const base = pulse.ringAt;
  if (base !== undefined && ring === undefined) throw new Error(`pulse ${pulse.pulseId} is in a shared ring this thread was not given`);
  for (let i = 0; i < channels.length; i++) {
    const start = pulse.offsets[2 * i]!;
    const length = pulse.offsets[2 * i + 1]!;
    const sec = pulse.timestamps[2 * i]!;
    values[i] = {
      bytes:
        start === -1
          ? null
          : start === -2
            ? pulse.shared![i]!
            : base !== undefined
              ? new Uint8Array(ring!, base + start, length)
              : new Uint8Array(pulse.data!, start, length),
      timestamp: Number.isNaN(sec) ? null : { sec, ns: pulse.timestamps[2 * i + 1]! },
    };
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
