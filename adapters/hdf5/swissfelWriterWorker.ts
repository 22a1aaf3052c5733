/**
 * The SwissFEL writer's thread (see swissfelWriterThread.ts): one `openSwissfelFile` writer per
 * acquisition at a time, fed pulse by pulse. Messages are handled strictly in order, so `finish`
 * and `abort` come after every pulse sent before them.
 *
 * Acks are batched: one per turn of this thread's event loop (a batch of pulses that arrived
 * together), carrying how many pulses and bytes were taken and the writer's stats after them.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { BsreadChannelConfig } from '../bsread/bsreadMessage.js';
import { usePageCacheReleasePort } from './pageCacheRelease.js';
import { loadH5wasm } from './loadH5wasm.js';
import { openSwissfelFile, type SwissfelFileWriter } from './swissfelWriter.js';
import { warmUpSwissfelWriter } from './swissfelWriterWarmUp.js';
import { stallThisThread } from './writerStallTestHook.js';
import { RECYCLE_MIN_BYTES, serializeError, unpackPulse, type FromWriter, type ToWriter } from './swissfelWriterProtocol.js';

const port = parentPort;
if (port === null) throw new Error('swissfelWriterWorker.ts runs as a worker thread');
const data = workerData as { pageCachePort?: MessagePort; warmUp?: boolean } | null;
const pageCachePort = data?.pageCachePort;
if (pageCachePort !== undefined) usePageCacheReleasePort(pageCachePort);

let writer: SwissfelFileWriter | undefined;
/** Set once a pulse could not be written: the rest are dropped until finish/abort. */
let failed = false;
const channelLists = new Map<number, readonly BsreadChannelConfig[]>();
let unacked = { pulses: 0, bytes: 0 };
let ackScheduled = false;
/** Big pulses' buffers written since the last ack, to go back with it. */
let written: ArrayBuffer[] = [];
/** The shared memory this file's pulses come in (sharedPulseRing.ts), when given. */
let ring: SharedArrayBuffer | undefined;
/** The test hook's stall (writerStallTestHook.ts), still to come after this file's first pulse. */
let stallMs: number | undefined;

const send = (message: FromWriter, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

const flushAck = (): void => {
  ackScheduled = false;
  if (unacked.pulses === 0 || writer === undefined) return;
  const buffers = written;
  written = [];
  send({ op: 'ack', pulses: unacked.pulses, bytes: unacked.bytes, stats: writer.stats(), ...(buffers.length > 0 ? { buffers } : {}) }, buffers);
  unacked = { pulses: 0, bytes: 0 };
};

const reset = (): void => {
  writer = undefined;
  failed = false;
  channelLists.clear();
  unacked = { pulses: 0, bytes: 0 };
  written = [];
};

const handle = async (message: ToWriter): Promise<void> => {
  switch (message.op) {
    case 'open': {
      reset();
      ring = message.ring;
      stallMs = message.stallMs;
      try {
        writer = await openSwissfelFile(message.options);
        send({ op: 'opened', draftPath: writer.draftPath, finalPath: writer.finalPath });
      } catch (e) {
        send({ op: 'openFailed', error: serializeError(e) });
      }
      return;
    }
    case 'pulse': {
      unacked.pulses++;
      unacked.bytes += message.bytes;
      if (!ackScheduled) {
        ackScheduled = true;
        setImmediate(flushAck);
      }
      if (failed || writer === undefined) return;
      try {
        const pulse = message.pulse;
        let channels: readonly BsreadChannelConfig[] | undefined;
        if (pulse !== null) {
          if (pulse.channels !== undefined) channelLists.set(pulse.channelsId, pulse.channels);
          channels = channelLists.get(pulse.channelsId);
          if (channels === undefined) throw new Error(`channel list ${pulse.channelsId} was never sent`);
        }
        writer.writePulse(message.pulseId, pulse === null ? null : unpackPulse(pulse, channels!, ring));
        // writePulse keeps no view of the values once it returns (rows are copied into chunk
        // buffers or written at once), so the buffer is free to carry another pulse.
        // The same holds for its region of the shared ring, freed by the ack.
        if (pulse?.data !== undefined && pulse.data.byteLength >= RECYCLE_MIN_BYTES) written.push(pulse.data);
        if (stallMs !== undefined) {
          const ms = stallMs;
          stallMs = undefined;
          stallThisThread(ms);
        }
      } catch (e) {
        failed = true;
        send({ op: 'writeFailed', error: serializeError(e) });
      }
      return;
    }
    case 'finish': {
      flushAck();
      const w = writer;
      const failedBefore = failed;
      reset();
      if (w === undefined) {
        send({ op: 'finishFailed', error: { name: 'Error', message: 'no file is open' } });
        return;
      }
      if (failedBefore) {
        // A pulse failed after the finish was sent: never publish a file missing rows; keep the draft, readable.
        const { draftPath } = await w.abort().catch(() => ({ draftPath: w.draftPath }));
        send({ op: 'finishFailed', error: { name: 'Error', message: `a pulse could not be written; the draft ${draftPath} is kept` } });
        return;
      }
      try {
        send({ op: 'finished', result: await w.finish() });
      } catch (e) {
        send({ op: 'finishFailed', error: serializeError(e) });
      }
      return;
    }
    case 'abort': {
      flushAck();
      const w = writer;
      reset();
      if (w === undefined) return send({ op: 'aborted', draftPath: '' });
      const { draftPath } = await w.abort().catch(() => ({ draftPath: w.draftPath }));
      send({ op: 'aborted', draftPath });
      return;
    }
  }
};

// In order: while an open, finish or abort is under way, later messages wait in `queue`.
const queue: ToWriter[] = [];
let busy = false;
const pump = async (): Promise<void> => {
  busy = true;
  while (queue.length > 0) await handle(queue.shift()!);
  busy = false;
};
// Every writer thread loads h5wasm as it starts, while it waits in the pool, not when its first
// file opens (the writer loads it lazily so that CLI commands never pay for it).
void loadH5wasm().catch(() => undefined);
// A thread started ahead of the first acquisition writes a throwaway file first
// (swissfelWriterWarmUp.ts); an acquisition that comes meanwhile stops it within a few pulses.
// A failed warm-up is no reason not to write real files: they report their own errors.
if (data?.warmUp === true) {
  busy = true;
  void warmUpSwissfelWriter(() => queue.length > 0)
    .catch(() => undefined)
    .then(() => pump());
}
port.on('message', (message: ToWriter) => {
  queue.push(message);
  if (!busy) void pump();
});
