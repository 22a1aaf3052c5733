/**
 * The SwissFEL writer on a thread of its own: the same `SwissfelFileWriter` as `openSwissfelFile`,
 * with the HDF5 work (h5wasm is synchronous: ~2 ms of a thread per 2.6 MB image, most of it the
 * kernel taking the bytes into the page cache) done by a worker thread, so that receiving the
 * stream and writing it run on two cores, and several acquisitions on as many.
 *
 * `writePulse` packs the pulse (swissfelWriterProtocol.ts) and posts it; it throws the writer's
 * error if an earlier pulse failed. `backlog()` is a promise while more than `maxPulses` pulses
 * or `maxBytes` bytes are posted and not yet taken: the caller awaits it, so a writer that cannot
 * keep up backs up into the ring buffer, as the in-thread writer does. `stats()` are those after
 * the last pulse the thread acknowledged; `finish()` returns the exact ones.
 *
 * Threads come from a pool that keeps one started (h5wasm takes 0.4 s to load in a new thread,
 * seconds on a busy machine; an acquisition must not wait that long for its first pulse) and
 * takes back a thread whose file was closed. Idle threads do not keep the process alive.
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import { DaqflowError, type ErrorCode } from '../../events/errors.js';
import type { BsreadChannelConfig, BsreadMessage } from '../bsread/bsreadMessage.js';
import type { OpenSwissfelFileOptions, SwissfelFileResult, SwissfelFileStats, SwissfelFileWriter } from './swissfelWriter.js';
import { servePageCacheRelease, startPageCacheReleaser } from './pageCacheRelease.js';
import { pinFrame } from '../bsread/framePins.js';
import { SHARED_PULSE_RING_BYTES, prepareSharedPulseRing, returnSharedPulseRing, takeSharedPulseRing } from './sharedPulseRing.js';
import { packPulse, type FromWriter, type SerializedError, type ToWriter } from './swissfelWriterProtocol.js';
import { STALLED_WRITER_MAX_PULSES, writerStallTestHook } from './writerStallTestHook.js';

export interface ThreadedSwissfelFileWriter extends SwissfelFileWriter {
  /**
   * Settles when the thread has opened the draft (rejects with the open's error). Pulses may be
   * written before: they wait in the thread's queue, within the limits of `backlog()`.
   */
  readonly opened: Promise<{ readonly draftPath: string; readonly finalPath: string }>;
  /** A promise while the thread is too far behind; undefined otherwise. */
  backlog(): Promise<void> | undefined;
  /**
   * Calls `listener` once, as soon as a pulse failed on the thread or the thread died: a caller
   * waiting on a silent stream learns it then, not at its next pulse.
   */
  onFailure(listener: (error: Error) => void): void;
  /** Pulses packed into a buffer the thread handed back (for the bench and tests). */
  buffersReused(): number;
  /** Pulses whose values went through the shared ring (for the bench and tests). */
  pulsesInRing(): number;
}

export interface WriterThreadLimits {
  /**
   * Pulses posted and not yet taken before `backlog()` holds the caller. Default 16,384: 8 s of a
   * 2 kHz stream, so that a writer that is still opening its file, or whose thread is still
   * loading h5wasm, takes the pulses from the ring buffer meanwhile; `maxBytes` bounds the memory.
   */
  readonly maxPulses?: number;
  /**
   * Bytes of values posted and not yet taken, likewise. Default: the shared ring's size (256 MiB
   * without one), so that a writer behind the stream holds its reader while the pulses still fit
   * the ring, and the ring buffer keeps the rest: past the ring every pulse needs a buffer of its
   * own, new memory on the receiving thread just when it has the least time (bench: 1,811 of
   * 4,800 images lost at 400 Hz in a 12 s rung, 22% of that thread in page faults).
   */
  readonly maxBytes?: number;
  /** Bytes of the shared ring pulses travel in (sharedPulseRing.ts); 0: none, every pulse in a buffer of its own. Default 64 MiB. */
  readonly ringBytes?: number;
}

/** Buffers kept for reuse per writer: 24 images of 2.6 MB, enough for a writer keeping pace. */
const SPARE_BYTES = 64 * 1024 ** 2;

const ENTRY = new URL('./swissfelWriterWorker.entry.mjs', import.meta.url);

const toError = (e: SerializedError): Error =>
  e.code !== undefined ? new DaqflowError(e.code as ErrorCode, e.message, e.details ?? {}) : Object.assign(new Error(e.message), { name: e.name });

const emptyStats: SwissfelFileStats = {
  firstPulseId: null,
  lastPulseId: null,
  rows: 0,
  pulsesWithMessage: 0,
  pulsesMissing: 0,
  channels: 0,
  valuesPresent: 0,
  valuesRefused: 0,
  typeChanges: 0,
  valueBytes: 0,
  stringBytesHeld: 0,
};

/** One worker thread and the handler of its current file. */
interface WriterThread {
  readonly worker: Worker;
  /** Replaced per file. */
  onMessage: (message: FromWriter) => void;
  /** Set when the thread died: every later use fails with it. */
  dead: Error | undefined;
}

export class WriterThreadPool {
  private readonly idle: WriterThread[] = [];
  private closed = false;

  /**
   * @param keepIdle threads `warm()` starts to wait for acquisitions (default 1)
   * @param maxIdle threads kept waiting when acquisitions end (default keepIdle + 1)
   */
  constructor(
    private readonly keepIdle = 1,
    private readonly maxIdle = keepIdle + 1,
  ) {}

  /**
   * Starts the threads to keep waiting, so the first acquisition does not wait for one, each
   * writing a throwaway file so that it finds their code warm (swissfelWriterWarmUp.ts); the
   * process's page-cache releaser (a fork: cheapest before the ring buffer fills, see
   * pageCacheRelease.ts); and a shared pulse ring, its pages touched (sharedPulseRing.ts).
   */
  warm(): void {
    this.closed = false;
    startPageCacheReleaser();
    prepareSharedPulseRing();
    while (this.idle.length < this.keepIdle) this.idle.push(this.spawn(true));
  }

  /**
   * A waiting thread, else a new one. Taking one starts no other: starting a thread loads h5wasm,
   * a core for 0.5 s or more, and beside the first second of an acquisition of 300 images/s that
   * cost the reader images (bench: a replacement started at each first image acquisition). A
   * thread that ends its file waits for the next (up to `maxIdle`), so acquisitions one after the
   * other start no thread at all; a second acquisition at the same time starts one of its own.
   */
  take(): WriterThread {
    let thread = this.idle.shift();
    while (thread !== undefined && thread.dead !== undefined) thread = this.idle.shift();
    thread ??= this.spawn();
    thread.worker.ref();
    return thread;
  }

  /** Takes a thread back; one whose file did not end cleanly (`reusable` false) is ended, not reused. */
  release(thread: WriterThread, reusable = true): void {
    thread.onMessage = () => undefined;
    if (thread.dead !== undefined) return;
    // A failed file may have left h5wasm unusable (an Emscripten abort, a full wasm heap).
    if (!reusable || this.closed || this.idle.length >= this.maxIdle) {
      void thread.worker.terminate();
      return;
    }
    thread.worker.unref();
    this.idle.push(thread);
  }

  /** Ends the idle threads and keeps none until `warm()` (threads in use end when released). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.idle.splice(0).map((t) => t.worker.terminate()));
  }

  /** `warmUp`: the thread writes a throwaway file before its first one (swissfelWriterWarmUp.ts). */
  private spawn(warmUp = false): WriterThread {
    // No inherited loader flags: the entry registers tsx itself (see its header).
    // Its page-cache releases go through this process's one shell (a fork per thread is dear).
    const pageCache = new MessageChannel();
    servePageCacheRelease(pageCache.port1);
    const worker = new Worker(ENTRY, { execArgv: [], workerData: { pageCachePort: pageCache.port2, warmUp }, transferList: [pageCache.port2] });
    const thread: WriterThread = { worker, onMessage: () => undefined, dead: undefined };
    worker.on('message', (m: FromWriter) => thread.onMessage(m));
    const die = (cause: Error): void => {
      if (thread.dead !== undefined) return;
      const error = new Error(`the writer thread stopped: ${cause.message}`, { cause });
      thread.dead = error;
      const i = this.idle.indexOf(thread);
      if (i >= 0) this.idle.splice(i, 1);
      thread.onMessage({ op: 'writeFailed', error: { name: error.name, message: error.message } });
    };
    worker.on('error', die);
    worker.on('exit', (code) => die(new Error(`exit code ${code}`)));
    worker.unref();
    return thread;
  }
}

let shared: WriterThreadPool | undefined;
/** The process's pool (idle threads unref'd: nothing to close). */
export const sharedWriterThreadPool = (): WriterThreadPool => (shared ??= new WriterThreadPool());

/**
 * Opens the draft as `openSwissfelFile` does (same checks, same errors), on a thread of `pool`,
 * and resolves once it is open.
 */
export const openSwissfelFileInThread = async (
  options: OpenSwissfelFileOptions,
  pool: WriterThreadPool = sharedWriterThreadPool(),
  limits: WriterThreadLimits = {},
): Promise<ThreadedSwissfelFileWriter> => {
  const writer = startSwissfelFileInThread(options, pool, limits);
  await writer.opened;
  return writer;
};

/**
 * Asks a thread of `pool` to open the draft and returns at once: pulses written before the file
 * is open wait in the thread's queue, so a caller reading a ring buffer never waits for the open
 * (nor for a thread still loading h5wasm). A failed open reaches `opened`, `onFailure`,
 * `backlog()` and the next `writePulse`; `draftPath` and `finalPath` are known once opened.
 */
export const startSwissfelFileInThread = (
  options: OpenSwissfelFileOptions,
  pool: WriterThreadPool = sharedWriterThreadPool(),
  limits: WriterThreadLimits = {},
): ThreadedSwissfelFileWriter => {
  const stallMs = writerStallTestHook();
  const maxPulses = limits.maxPulses ?? (stallMs === undefined ? 16_384 : STALLED_WRITER_MAX_PULSES);
  const ringBytesAsked = limits.ringBytes ?? SHARED_PULSE_RING_BYTES;
  const maxBytes = limits.maxBytes ?? (ringBytesAsked > 0 ? ringBytesAsked : 256 * 1024 ** 2);
  const thread = pool.take();
  const post = (message: ToWriter, transfer: ArrayBuffer[] = []): void => {
    if (thread.dead !== undefined) throw thread.dead;
    thread.worker.postMessage(message, transfer);
  };

  let stats = emptyStats;
  // Two numbers, not an object: they change on every pulse (2,000 a second and more).
  let inFlightPulses = 0;
  let inFlightBytes = 0;
  /** Buffers the thread handed back, by size, for the next big pulses (at most SPARE_BYTES). */
  const spares = new Map<number, ArrayBuffer[]>();
  let spareBytes = 0;
  let reused = 0;
  const takeSpare = (bytes: number): ArrayBuffer | undefined => {
    const buffer = spares.get(bytes)?.pop();
    if (buffer !== undefined) {
      spareBytes -= bytes;
      reused++;
    }
    return buffer;
  };
  /**
   * Per pulse sent and not yet acked, in order: the pins on the receive buffers it shares with
   * the thread (framePins.ts), removed when the thread acks the pulse or is done with the file.
   */
  const pinsInFlight: Array<Array<() => void> | undefined> = [];
  let pinsHead = 0;
  const unpinAcked = (pulses: number): void => {
    const end = Math.min(pinsInFlight.length, pinsHead + pulses);
    for (; pinsHead < end; pinsHead++) {
      for (const unpin of pinsInFlight[pinsHead] ?? []) unpin();
      pinsInFlight[pinsHead] = undefined;
    }
    if (pinsHead > 4_096 && pinsHead * 2 > pinsInFlight.length) {
      pinsInFlight.splice(0, pinsHead);
      pinsHead = 0;
    }
  };
  const unpinAll = (): void => unpinAcked(pinsInFlight.length - pinsHead);
  let writeError: Error | undefined;
  const failureListeners: Array<(error: Error) => void> = [];
  let waiting: { resolve: () => void; reject: (e: Error) => void } | undefined;
  let closing: { resolve: (m: FromWriter) => void; reject: (e: Error) => void } | undefined;
  let state: 'open' | 'closing' | 'closed' = 'open';

  const ring = ringBytesAsked > 0 ? takeSharedPulseRing(ringBytesAsked) : undefined;
  let inRing = 0;
  let paths: { draftPath: string; finalPath: string } | undefined;
  let openState: 'opening' | 'open' | 'failed' = 'opening';
  let settleOpen: { resolve: (p: { draftPath: string; finalPath: string }) => void; reject: (e: Error) => void } | undefined;
  const opened = new Promise<{ draftPath: string; finalPath: string }>((resolve, reject) => {
    settleOpen = { resolve, reject };
  });
  // A caller that never awaits `opened` learns of a failed open through the other channels.
  opened.catch(() => undefined);
  const draftName = (): string => paths?.draftPath ?? `the draft of ${options.outputFile}`;
  const wake = (): void => {
    const w = waiting;
    if (w === undefined) return;
    if (writeError !== undefined) {
      waiting = undefined;
      w.reject(writeError);
    } else if (inFlightPulses <= maxPulses && inFlightBytes <= maxBytes) {
      waiting = undefined;
      w.resolve();
    }
  };

  const failWith = (error: Error): void => {
    if (writeError === undefined) {
      writeError = error;
      for (const listener of failureListeners.splice(0)) listener(writeError);
    }
    wake();
  };

  thread.onMessage = (m) => {
    switch (m.op) {
      case 'opened':
        paths = { draftPath: m.draftPath, finalPath: m.finalPath };
        openState = 'open';
        settleOpen?.resolve(paths);
        return;
      case 'openFailed': {
        openState = 'failed';
        const error = toError(m.error);
        settleOpen?.reject(error);
        failWith(error);
        // A finish or abort already sent gives the thread back when it is answered.
        if (closing !== undefined) {
          closing.reject(error);
          return;
        }
        // Nothing is open: the thread and the ring go back at once (the thread drops the pulses
        // sent after the open).
        state = 'closed';
        pool.release(thread);
        if (ring) returnSharedPulseRing(ring);
        unpinAll();
        return;
      }
      case 'ack':
        inFlightPulses -= m.pulses;
        inFlightBytes -= m.bytes;
        // The thread is done with these pulses' regions of the ring, and their shared buffers.
        ring?.ackedPulses(m.pulses);
        unpinAcked(m.pulses);
        stats = m.stats;
        for (const buffer of m.buffers ?? []) {
          if (spareBytes + buffer.byteLength > SPARE_BYTES) break;
          const list = spares.get(buffer.byteLength) ?? [];
          list.push(buffer);
          spares.set(buffer.byteLength, list);
          spareBytes += buffer.byteLength;
        }
        wake();
        return;
      case 'writeFailed': {
        const error = toError(m.error);
        if (openState === 'opening') {
          openState = 'failed';
          settleOpen?.reject(error);
        }
        failWith(error);
        // A living thread still answers the finish or abort it was sent (and only then is it
        // released); a dead one never will.
        if (thread.dead !== undefined) closing?.reject(writeError!);
        return;
      }
      case 'finished':
        stats = m.result.stats;
        closing?.resolve(m);
        return;
      case 'finishFailed':
        closing?.reject(writeError ?? toError(m.error));
        return;
      case 'aborted':
        closing?.resolve(m);
        return;
      default:
        return;
    }
  };
  try {
    post({ op: 'open', options, ...(ring ? { ring: ring.buffer } : {}), ...(stallMs === undefined ? {} : { stallMs }) });
  } catch (e) {
    pool.release(thread);
    if (ring) returnSharedPulseRing(ring);
    throw e;
  }

  const channelIds = new WeakMap<readonly BsreadChannelConfig[], number>();
  let nextChannelsId = 1;

  const close = <T extends FromWriter>(op: 'finish' | 'abort'): Promise<T> => {
    // A file that never opened has nothing to close: its thread went back at the failure.
    if (openState === 'failed' && op === 'abort') return Promise.resolve({ op: 'aborted', draftPath: '' } as T);
    if (openState === 'failed') return Promise.reject(writeError!);
    if (state !== 'open') return Promise.reject(new Error(`the writer of ${draftName()} is already closed`));
    state = 'closing';
    return new Promise<T>((resolve, reject) => {
      closing = { resolve: resolve as (m: FromWriter) => void, reject };
      try {
        post({ op });
      } catch (e) {
        reject(e as Error);
      }
    }).then(
      (m) => {
        // Finished or aborted without a failed pulse: the thread can take the next file.
        done(writeError === undefined);
        return m;
      },
      (e: unknown) => {
        done(false);
        throw e;
      },
    );
    function done(clean: boolean): void {
      state = 'closed';
      closing = undefined;
      pool.release(thread, clean);
      // Finished or aborted, the thread reads the ring no more; dead, it never will.
      if (ring) returnSharedPulseRing(ring);
      unpinAll();
    }
  };

  return {
    opened,
    get draftPath() {
      return paths?.draftPath ?? '';
    },
    get finalPath() {
      return paths?.finalPath ?? '';
    },
    writePulse: (pulseId: number, message: BsreadMessage | null): void => {
      if (writeError !== undefined) throw writeError;
      if (state !== 'open') throw new Error(`the writer of ${draftName()} is closed`);
      if (message === null) {
        post({ op: 'pulse', pulseId, pulse: null, bytes: 0 });
        pinsInFlight.push(undefined);
        ring?.sentPulse();
        inFlightPulses++;
        return;
      }
      let id = channelIds.get(message.channels);
      const first = id === undefined;
      if (id === undefined) {
        id = nextChannelsId++;
        channelIds.set(message.channels, id);
      }
      const packed = packPulse(message, id, first, takeSpare, ring);
      const shared = packed.pulse.shared;
      // Pinned before the post: the thread may read them from the moment it is sent.
      const pins = shared === undefined ? undefined : shared.flatMap((view) => (view === null ? [] : [pinFrame(view)]));
      try {
        post({ op: 'pulse', pulseId, pulse: packed.pulse, bytes: packed.bytes }, packed.transfer);
      } catch (e) {
        if (packed.pulse.ringAt !== undefined) ring!.dropNewest();
        for (const unpin of pins ?? []) unpin();
        throw e;
      }
      pinsInFlight.push(pins);
      if (packed.pulse.ringAt !== undefined) inRing++;
      ring?.sentPulse();
      inFlightPulses++;
      inFlightBytes += packed.bytes;
    },
    backlog: () => {
      if (writeError !== undefined) return Promise.reject(writeError);
      if (inFlightPulses <= maxPulses && inFlightBytes <= maxBytes) return undefined;
      return new Promise<void>((resolve, reject) => {
        waiting = { resolve, reject };
      });
    },
    finish: async (): Promise<SwissfelFileResult> => {
      if (writeError !== undefined) {
        await close('abort').catch(() => undefined);
        throw writeError;
      }
      const m = await close<Extract<FromWriter, { op: 'finished' }>>('finish');
      return m.result;
    },
    abort: async (): Promise<{ draftPath: string }> => {
      const m = await close<Extract<FromWriter, { op: 'aborted' }>>('abort');
      return { draftPath: m.draftPath || (paths?.draftPath ?? '') };
    },
    onFailure: (listener) => {
      if (writeError !== undefined) listener(writeError);
      else failureListeners.push(listener);
    },
    buffersReused: () => reused,
    pulsesInRing: () => inRing,
    stats: () => stats,
  };
};
