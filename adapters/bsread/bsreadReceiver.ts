/**
 * A bsread receiver: connects a ZeroMQ PULL (point to point, the bsread default) or SUB socket
 * (empty subscription: everything) to a stream, decodes each multipart message and hands it to
 * `onMessage`, one at a time: when `onMessage` returns a promise the next message is read after it
 * settles, so a slow consumer backs up into the socket's receive high-water mark (and from there,
 * with PUSH, into the sender; with PUB, the sender drops).
 *
 * Nothing a stream sends can stop the receiver: a message that does not decode is counted under
 * its reason and skipped, with a warning logged at most once per reason per `logIntervalMs`
 * (carrying how many were suppressed since the last one); an `onMessage` that throws is counted
 * and logged the same way. Only `close()` ends it.
 */
import * as zmq from 'zeromq';
import type { Logger } from '../../actors/runtime/logger.js';
import { silentLogger } from '../../actors/runtime/logger.js';
import { messageOf } from '../../events/errors.js';
import { DataHeaderCache, decodeMessage } from './bsreadCodec.js';
import type { BsreadMessage } from './bsreadMessage.js';
import { BsreadDecodeError, bsreadDecodeReasonList, type BsreadDecodeReason } from './errors.js';
import type { FramePool, FramePoolCounters } from './framePool.js';
import { createZmtpSocket, type ZmtpSocketCounters } from './zmtpSocket.js';

import type { BsreadTransport } from './bsreadTransport.js';

export { bsreadTransports, type BsreadTransport } from './bsreadTransport.js';

export interface BsreadReceiverOptions {
  /** The stream to connect to, e.g. `tcp://camera-server:9999`. */
  readonly address: string;
  readonly mode: 'pull' | 'sub';
  /** Default `zmtp`. */
  readonly transport?: BsreadTransport;
  /** Called for each decoded message, in order; awaited when it returns a promise. */
  readonly onMessage: (message: BsreadMessage) => void | Promise<void>;
  readonly logger?: Logger;
  /** ZMQ receive high-water mark, in messages. Default 100 (bsread's Source). */
  readonly receiveHighWaterMark?: number;
  /** One channel's value that does not decode: reject the message (default) or null the value (see bsreadCodec.ts). */
  readonly channelErrors?: 'reject' | 'null';
  /** Largest decompressed value accepted, in bytes. Default 512 MiB. */
  readonly maxValueBytes?: number;
  /** Data headers kept by hash. Default 16. */
  readonly headerCacheSize?: number;
  /** At most one warning per reason per this many ms. Default 10,000. */
  readonly logIntervalMs?: number;
  /** Told of each message skipped, e.g. to count it elsewhere too. */
  readonly onMalformed?: (error: BsreadDecodeError) => void;
  /** Given the wire parts of each message that decoded (before onMessage), e.g. to re-publish them as they came. */
  readonly onParts?: (parts: Buffer[], message: BsreadMessage) => void;
  /**
   * Buffers for big frames (the `zmtp` transport only). The caller then calls `release(message)`
   * for every delivered message once nothing reads it any more; one never released costs nothing
   * but the reuse. Not with `onParts` consumers that keep the parts (a ZeroMQ send may).
   */
  readonly framePool?: FramePool;
  /** A peer that has not finished the ZMTP handshake this long after the connection is dropped (the `zmtp` transport only). Default 30 s. */
  readonly handshakeTimeoutMs?: number;
  /** Wait before reconnecting (the `zmtp` transport only; ten times that after a refused handshake). Default 100 ms. */
  readonly reconnectIntervalMs?: number;
}

export interface BsreadReceiverCounters {
  /** Multipart messages read from the socket. */
  readonly received: number;
  /** Messages decoded and handed to onMessage. */
  readonly delivered: number;
  /** Messages skipped because they did not decode (sum of byReason). */
  readonly malformed: number;
  readonly byReason: Readonly<Record<BsreadDecodeReason, number>>;
  /** Channel values nulled because they did not decode (`channelErrors: 'null'` only). */
  readonly channelErrors: number;
  /** onMessage calls that threw or rejected. */
  readonly handlerErrors: number;
  /** Bytes of all messages received (all parts). */
  readonly bytes: number;
  /** Data headers parsed (a hash change, or a refused header). */
  readonly headerParses: number;
  /** Pulse ids skipped above the newest delivered one (newest n followed by n + k adds k - 1). */
  readonly missingPulses: number;
  /** Delivered messages whose pulse id was not above the newest before it (a sender restart, a reordering). */
  readonly outOfOrder: number;
  /** The newest pulse id delivered (the highest: one that went backwards does not lower it). */
  readonly lastPulseId: number | undefined;
  readonly transport: BsreadTransport;
  /** Connections made and lost (the `zmtp` transport only; libzmq does not tell). */
  readonly link?: ZmtpSocketCounters;
  /** Frame buffers new and used again (with a `framePool` and the `zmtp` transport). */
  readonly framePool?: FramePoolCounters;
}

export interface BsreadReceiver {
  readonly address: string;
  readonly mode: 'pull' | 'sub';
  /** A snapshot of the counters. */
  counters(): BsreadReceiverCounters;
  /** Resolves when the receive loop has ended, after close(). */
  readonly done: Promise<void>;
  /** Stops receiving and closes the socket; resolves once the loop has ended. */
  close(): Promise<void>;
  /** Nothing reads this delivered message any more: its frame buffers go back to the pool. */
  release(message: BsreadMessage): void;
}

const connectZeromq = (address: string, mode: 'pull' | 'sub', hwm: number, onConnect: () => void): zmq.Pull | zmq.Subscriber => {
  const socket = mode === 'pull' ? new zmq.Pull({ receiveHighWaterMark: hwm, linger: 0 }) : new zmq.Subscriber({ receiveHighWaterMark: hwm, linger: 0 });
  if (socket instanceof zmq.Subscriber) socket.subscribe();
  // 'handshake', not 'connect': libzmq says 'connect' of a TCP connection that a peer of the
  // wrong type or security then refuses.
  socket.events.on('handshake', onConnect);
  socket.connect(address);
  return socket;
};

export const createBsreadReceiver = (options: BsreadReceiverOptions): BsreadReceiver => {
  const logger = options.logger ?? silentLogger;
  const logIntervalMs = options.logIntervalMs ?? 10_000;
  const hwm = options.receiveHighWaterMark ?? 100;
  const transport = options.transport ?? 'zmtp';
  let everConnected = false;
  // The first connection only: the zmtp reader logs its outages and returns itself.
  const onConnect = (): void => {
    if (everConnected) return;
    everConnected = true;
    logger.info({ address: options.address, mode: options.mode, transport }, `bsread receiver connected to ${options.address}`);
  };
  const zmtp =
    transport === 'zmtp'
      ? createZmtpSocket({
          address: options.address,
          type: options.mode,
          receiveHighWaterMark: hwm,
          logger,
          onConnect,
          ...(options.framePool ? { framePool: options.framePool } : {}),
          ...(options.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: options.handshakeTimeoutMs } : {}),
          ...(options.reconnectIntervalMs !== undefined ? { reconnectIntervalMs: options.reconnectIntervalMs } : {}),
        })
      : undefined;
  const socket = zmtp ?? connectZeromq(options.address, options.mode, hwm, onConnect);
  logger.info({ address: options.address, mode: options.mode, transport, receiveHighWaterMark: hwm }, `bsread receiver connecting to ${options.address}`);

  const cache = new DataHeaderCache(options.headerCacheSize);
  const byReason = Object.fromEntries(bsreadDecodeReasonList.map((r) => [r, 0])) as Record<BsreadDecodeReason, number>;
  let received = 0;
  let delivered = 0;
  let malformed = 0;
  let channelErrors = 0;
  let handlerErrors = 0;
  let bytes = 0;
  let missingPulses = 0;
  let outOfOrder = 0;
  let lastPulseId: number | undefined;
  let closed = false;
  const pool = zmtp !== undefined ? options.framePool : undefined;
  /** The pooled frames of each delivered message, until released. */
  const pooledFrames = new WeakMap<BsreadMessage, Buffer[]>();

  /** Rate-limited warnings: per key, when the last was logged and how many were held back since. */
  const lastLogged = new Map<string, { at: number; suppressed: number }>();
  const warn = (key: string, fields: Record<string, unknown>, msg: string): void => {
    const now = performance.now();
    const entry = lastLogged.get(key);
    if (entry !== undefined && now - entry.at < logIntervalMs) {
      entry.suppressed++;
      return;
    }
    logger.warn({ ...fields, suppressed: entry?.suppressed ?? 0, address: options.address }, msg);
    lastLogged.set(key, { at: now, suppressed: 0 });
  };

  const decodeOptions = {
    channelErrors: options.channelErrors ?? 'reject',
    maxValueBytes: options.maxValueBytes,
    onChannelError: (e: BsreadDecodeError) => {
      channelErrors++;
      warn(`channel:${e.reason}`, { reason: e.reason, pulseId: e.pulseId, channel: e.channel, error: e.message }, 'bsread: channel value not decoded, delivered as absent');
    },
  } as const;

  const handle = async (parts: Buffer[]): Promise<void> => {
    received++;
    for (const p of parts) bytes += p.length;
    let message: BsreadMessage;
    try {
      message = decodeMessage(parts, cache, decodeOptions);
    } catch (e) {
      // The codec throws BsreadDecodeError only; anything else would be a bug of ours, and still
      // not a reason to stop receiving.
      const error = e instanceof BsreadDecodeError ? e : new BsreadDecodeError('MAIN_HEADER', `decoder failure: ${messageOf(e)}`, {}, { cause: e });
      malformed++;
      byReason[error.reason]++;
      options.onMalformed?.(error);
      warn(
        `malformed:${error.reason}`,
        { reason: error.reason, pulseId: error.pulseId, channel: error.channel, parts: parts.length, error: error.message },
        'bsread: malformed message skipped',
      );
      return;
    }
    if (lastPulseId !== undefined) {
      if (message.pulseId > lastPulseId + 1) missingPulses += message.pulseId - lastPulseId - 1;
      else if (message.pulseId <= lastPulseId) outOfOrder++;
    }
    // Against the newest, as the ring buffer judges order: one message whose pulse id went
    // backwards (a corrupt one that still decoded) must not count the stream's next pulse as a
    // jump over every id in between.
    if (lastPulseId === undefined || message.pulseId > lastPulseId) lastPulseId = message.pulseId;
    delivered++;
    if (pool !== undefined) {
      // Hot path (402 parts a pulse of 200 scalars, none pooled): no array unless a frame is.
      let pooled: Buffer[] | undefined;
      for (const p of parts) if (p.length >= pool.minBytes && pool.isOut(p)) (pooled ??= []).push(p);
      if (pooled !== undefined) pooledFrames.set(message, pooled);
    }
    options.onParts?.(parts, message);
    try {
      const r = options.onMessage(message);
      if (r !== undefined) await r;
    } catch (e) {
      handlerErrors++;
      warn('handler', { pulseId: message.pulseId, error: messageOf(e) }, 'bsread: onMessage failed; the message is dropped');
    }
  };

  const loop = async (): Promise<void> => {
    while (!closed) {
      let parts: Buffer[];
      try {
        parts = await socket.receive();
      } catch (e) {
        if (closed || socket.closed) break;
        warn('receive', { error: messageOf(e) }, 'bsread: receive failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      await handle(parts);
    }
  };
  const done = loop().finally(() => {
    if (!socket.closed) socket.close();
    logger.info({ address: options.address, received, delivered, malformed }, 'bsread receiver closed');
  });

  return {
    address: options.address,
    mode: options.mode,
    counters: () => ({
      received,
      delivered,
      malformed,
      byReason: { ...byReason },
      channelErrors,
      handlerErrors,
      bytes,
      headerParses: cache.parses,
      missingPulses,
      outOfOrder,
      lastPulseId,
      transport,
      ...(zmtp ? { link: zmtp.counters() } : {}),
      ...(pool ? { framePool: pool.counters() } : {}),
    }),
    done,
    close: async () => {
      closed = true;
      if (!socket.closed) socket.close();
      await done;
    },
    release: (message) => {
      const frames = pooledFrames.get(message);
      if (frames === undefined) return;
      pooledFrames.delete(message);
      for (const frame of frames) pool?.give(frame);
    },
  };
};
