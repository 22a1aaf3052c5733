/**
 * The bsread stream as acquisitions see it: one receiver connected to the configured stream,
 * feeding one ring buffer that every acquisition of this process reads from.
 */
import { silentLogger, type Logger } from '../../actors/runtime/logger.js';
import { createBsreadReceiver, type BsreadReceiver, type BsreadReceiverCounters, type BsreadTransport } from './bsreadReceiver.js';
import type { BsreadMessage } from './bsreadMessage.js';
import { createFrameArena, type FrameArenaCounters } from './frameArena.js';
import { createFramePool } from './framePool.js';
import { createRingBuffer, type RingBuffer, type RingBufferCounters } from './ringBuffer.js';
import { startBsreadRepublisher, type BsreadRepublisherCounters } from './bsreadRepublisher.js';

export interface BsreadSourceOptions {
  /** e.g. `tcp://127.0.0.1:9999` (`DAQFLOW_BSREAD_STREAM`). */
  readonly address: string;
  readonly mode: 'pull' | 'sub';
  /** `DAQFLOW_BSREAD_RECEIVER`; default `zmtp`. */
  readonly transport?: BsreadTransport;
  /** Ring buffer size in messages (`DAQFLOW_BUFFER_LENGTH`). */
  readonly bufferLength: number;
  /**
   * Ring buffer size in wire bytes. Default 512 MiB: about 200 pulses of 2.6 MB images, so a
   * buffer of 1,000 messages of images is bounded by memory, not by the count. Larger is not
   * free: on the bench, images held in a 2 GiB buffer made each write to the page cache 2-3 times
   * dearer (memory not touched for a while is slow to touch again on this VM), and the writer kept
   * pace at 100 Hz instead of 200-300 Hz.
   */
  readonly bufferBytes?: number;
  /**
   * Make the receive buffers of one ring buffer's worth of images (plus 64 MiB a writer thread
   * may hold) resident at start, on a thread of their own (frameArena.ts), so that the first
   * seconds of a stream, and the first acquisition after start, cost no more than later ones.
   * Default false: `daqflow up` asks for it when a stream is configured (not for the simulator).
   */
  readonly prefault?: boolean;
  /** Re-publish every decoded message on a ZeroMQ PUB socket bound here (e.g. `tcp://*:9998`). */
  readonly republishAddress?: string;
  readonly logger?: Logger;
}

export interface BsreadSourceCounters {
  readonly address: string;
  readonly mode: 'pull' | 'sub';
  readonly receiver: BsreadReceiverCounters;
  readonly buffer: RingBufferCounters;
  readonly republished?: BsreadRepublisherCounters;
  readonly arena?: FrameArenaCounters;
}

export interface BsreadSource {
  readonly address: string;
  /** The re-publication port once bound (rejects when it cannot be bound); undefined without one. */
  readonly republished: Promise<string> | undefined;
  readonly buffer: RingBuffer;
  /** Resolves once the receive memory asked for by `prefault` is resident (at once without it). */
  readonly prefaulted: Promise<void>;
  counters(): BsreadSourceCounters;
  close(): Promise<void>;
}

export const DEFAULT_BUFFER_BYTES = 512 * 1024 ** 2;
/** Beyond the ring buffer's bytes, what writer threads may still hold (their in-flight bound). */
const ARENA_SLACK_BYTES = 64 * 1024 ** 2;

export const startBsreadSource = (options: BsreadSourceOptions): BsreadSource => {
  const logger = options.logger ?? silentLogger;
  const republisher = options.republishAddress ? startBsreadRepublisher(options.republishAddress, { logger }) : undefined;
  // Image buffers are filled again once the ring buffer lets go of them, unless a re-publisher
  // may still be sending them (a ZeroMQ send can keep a buffer past the call).
  const arena =
    republisher === undefined && options.prefault === true ? createFrameArena((options.bufferBytes ?? DEFAULT_BUFFER_BYTES) + ARENA_SLACK_BYTES) : undefined;
  if (arena) {
    const started = performance.now();
    logger.info({ bytes: arena.counters().bytes }, `making ${Math.round(arena.counters().bytes / 1024 ** 2)} MiB of receive memory resident (up to a few seconds on a VM)`);
    void arena.ready.then(() => {
      const c = arena.counters();
      if (c.failed !== null) logger.warn({ failed: c.failed }, 'receive buffers could not be made resident at start: the first images cost new memory');
      else logger.info({ bytes: c.bytes, ms: Math.round(performance.now() - started) }, 'receive buffers resident');
    });
  }
  const framePool = republisher === undefined ? createFramePool(arena ? { arena } : {}) : undefined;
  // The ring buffer releases only from push(), which the receiver calls: it exists by then.
  const buffer = createRingBuffer({
    maxMessages: options.bufferLength,
    maxBytes: options.bufferBytes ?? DEFAULT_BUFFER_BYTES,
    ...(framePool ? { onRelease: (message: BsreadMessage) => receiver.release(message) } : {}),
  });
  const receiver: BsreadReceiver = createBsreadReceiver({
    address: options.address,
    mode: options.mode,
    ...(options.transport ? { transport: options.transport } : {}),
    logger,
    onMessage: (message) => {
      if (buffer.push(message) !== 'stored') receiver.release(message);
    },
    onMalformed: () => buffer.countMalformed(),
    ...(framePool ? { framePool } : {}),
    ...(republisher ? { onParts: (parts: Buffer[]) => republisher.publish(parts) } : {}),
  });
  return {
    address: options.address,
    republished: republisher?.bound,
    buffer,
    prefaulted: arena?.ready ?? Promise.resolve(),
    counters: () => ({
      address: options.address,
      mode: options.mode,
      receiver: receiver.counters(),
      buffer: buffer.counters(),
      ...(republisher ? { republished: republisher.counters() } : {}),
      ...(arena ? { arena: arena.counters() } : {}),
    }),
    close: async () => {
      await receiver.close();
      buffer.close();
      await republisher?.close();
    },
  };
};
