/**
 * The writer acquisition's effects (names in `actors/acquisitions/acquisition.machine.ts`):
 *
 * - `acquire` reads pulses start..stop from the ring buffer and writes them to the SwissFEL file;
 *   it reports `started` and `progress` (at most one per `progressIntervalMs`) while it runs and
 *   ends with `finished`, `killed` or `acquisitionFailed`;
 * - `setStop` tells the running `acquire` of that actor where to stop;
 * - `kill` makes it close the file with what it has written.
 *
 * A reader the ring buffer overtakes goes on from the oldest pulse held (`onLoss: 'record'`, the
 * default): the pulses it lost are written as missing rows and reported as `lostPulses`; with
 * `onLoss: 'fail'` it fails with PULSES_LOST (docs/acquisitions.md, "Lost pulses").
 *
 * After a restart `acquire` is issued again with the first pulse it had written: it takes a file
 * already published under the final name as finished when the file was written for this
 * acquisition (the process died before `finished` was recorded), rewrites the file from that pulse
 * when the new buffer still holds it, and otherwise fails naming the pulses that were only in the
 * lost buffer, keeping the draft. A start pulse the buffer never held (or no
 * longer holds) is refused, never silently skipped.
 */
import { basename, dirname, join } from 'node:path';
import { setImmediate as yieldToIo } from 'node:timers/promises';
import type { AcquireParams, KillParams, SetStopParams } from '../../../actors/acquisitions/acquisition.machine.js';
import { MAX_LOST_RANGES, type AcquisitionProgress, type AcquisitionWriter, type LostPulseRecord } from '../../../actors/acquisitions/acquisition.events.js';
import { silentLogger, type EffectContext, type EffectHandlersFor, type Logger } from '../../../actors/runtime/index.js';
import { messageOf } from '../../../events/errors.js';
import type { BsreadChannelConfig, BsreadMessage } from '../../bsread/bsreadMessage.js';
import { isPulseGoneError, type LostPulses } from '../../bsread/ringBuffer.js';
import { swissfelDraftName } from '../../hdf5/swissfelLayout.js';
import { readSwissfelOwner } from '../../hdf5/readSwissfelOwner.js';
import { killAfterPublishTestHook } from './killAfterPublishTestHook.js';
import { openSwissfelFile, swissfelFinalPath, type OpenSwissfelFileOptions, type SwissfelFileWriter } from '../../hdf5/swissfelWriter.js';
import {
  sharedWriterThreadPool,
  startSwissfelFileInThread,
  type ThreadedSwissfelFileWriter,
  type WriterThreadPool,
} from '../../hdf5/swissfelWriterThread.js';
import type { BsreadSource } from '../../bsread/bsreadSource.js';
import type { acquisitionEffectActions } from '../../../actors/acquisitions/acquisition.machine.js';

/** The handlers the machine's effect actions need (a missing or misspelled one does not compile). */
export type AcquisitionEffects = EffectHandlersFor<typeof acquisitionEffectActions>;

export interface AcquisitionEffectsOptions {
  /** The stream of this process (the configured one, or the simulated default). */
  readonly source: () => BsreadSource;
  /** `DAQFLOW_DATA_ROOT`. */
  readonly dataRoot: string;
  readonly logger?: Logger;
  /** Least time between two progress events of one acquisition. Default 1,000 ms. */
  readonly progressIntervalMs?: number;
  /** Rows per HDF5 chunk (default: the writer's, by row size). */
  readonly chunkRows?: number;
  /**
   * Where the HDF5 file is written: `thread` (default), each acquisition's writer on a worker
   * thread from `writerThreads` (default: the process's pool), so that receiving and writing use
   * two cores; `inline`, on this thread (the bench compares the two).
   */
  readonly writer?: 'thread' | 'inline';
  readonly writerThreads?: WriterThreadPool;
  /**
   * This process as the `started` event records it (node, process, the stream it reads), so that
   * whether another process holds the same pulses can be judged when this one is gone.
   */
  readonly identity?: () => AcquisitionWriter;
  /** Opens each acquisition's file instead of `writer`: a test holds an open with it. */
  readonly openFile?: (options: OpenSwissfelFileOptions) => Promise<SwissfelFileWriter>;
}

/** Why an acquisition failed (`acquisitionFailed.reason`). */
export const acquisitionFailureReasons = {
  START_PULSE_GONE: 'the start pulse is not in the ring buffer',
  PULSES_LOST: 'pulses the file needs are no longer in the ring buffer',
  WRITE_FAILED: 'the HDF5 file could not be written',
  INTERRUPTED: 'the process stopped before the file was closed',
} as const;
export type AcquisitionFailureReason = keyof typeof acquisitionFailureReasons;

type Outcome = { type: string; data: Record<string, unknown> };

interface Running {
  setStop(stop: SetStopParams): void;
  kill(reason: string): void;
}


/** Settles with `promise`, or resolves as soon as `signal` aborts. */
const untilAborted = (promise: Promise<void>, signal: AbortSignal): Promise<void> =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      promise.catch(() => undefined);
      resolve();
      return;
    }
    const onAbort = (): void => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e as Error);
      },
    );
  });

const draftPathOf = (outputFile: string): string => join(dirname(outputFile), swissfelDraftName(basename(outputFile)));

/** Acquisitions remembered by id for a stop that came early or a kill that came late. */
const RECENT = 1_000;

/** A view of the message with only the requested channels; the channel list is shared per data header. */
const channelFilter = (wanted: readonly string[] | null): ((m: BsreadMessage) => BsreadMessage) => {
  if (wanted === null) return (m) => m;
  const names = new Set(wanted);
  const byHash = new Map<string, { channels: readonly BsreadChannelConfig[]; indices: number[] }>();
  return (m) => {
    let plan = byHash.get(m.hash);
    if (plan === undefined) {
      const indices = m.channels.flatMap((c, i) => (names.has(c.name) ? [i] : []));
      plan = { channels: indices.map((i) => m.channels[i] as BsreadChannelConfig), indices };
      byHash.set(m.hash, plan);
    }
    return { ...m, channels: plan.channels, values: m.values.select(plan.indices) };
  };
};

export const createAcquisitionEffects = (options: AcquisitionEffectsOptions): AcquisitionEffects => {
  const logger = options.logger ?? silentLogger;
  const progressIntervalMs = options.progressIntervalMs ?? 1_000;
  const running = new Map<string, Running>();
  /** Stops that arrived before their `acquire` had registered. */
  const pendingStops = new Map<string, SetStopParams>();
  /** Acquisitions whose `acquire` ran in this process: a kill that finds none running lets their outcome land. */
  const ranHere = new Map<string, true>();
  // Both only ever answer about recent acquisitions: a process running for months keeps the last
  // RECENT of each, not every id it ever saw (a stop for an acquisition another process runs
  // would otherwise stay for good).
  const remember = <V>(map: Map<string, V>, id: string, value: V): void => {
    map.delete(id);
    map.set(id, value);
    if (map.size > RECENT) map.delete(map.keys().next().value!);
  };

  /**
   * The process before a restart may have published the file and died before `finished` was
   * recorded: a file under the final name that was written for this acquisition is that file, and
   * the acquisition finished with it. (Its lost pulses, if any, are among its missing rows; their
   * stretches were only in the process that died.)
   */
  const publishedBeforeRestart = async (outputFile: string, id: string): Promise<Outcome | undefined> => {
    // A path the writer would refuse now (a folder made a symlink out of the root) is nobody's file.
    const path = await swissfelFinalPath({ dataRoot: options.dataRoot, outputFile }).catch(() => undefined);
    const file = path === undefined ? undefined : await readSwissfelOwner(path);
    if (path === undefined || file?.acquisitionId !== id) return undefined;
    logger.warn(
      { acquisition: id, path, rows: file.stats.rows },
      `acquisition ${id}: its file ${path} was finished before the restart and is taken as it is`,
    );
    return {
      type: 'finished',
      data: {
        lastPulseId: file.stats.lastPulseId,
        pulsesWritten: file.stats.pulsesWithMessage,
        missingPulses: file.stats.pulsesMissing,
        bytesWritten: file.bytes,
        ratePerSecond: 0,
        lagPulses: 0,
        path,
        firstPulseId: file.stats.firstPulseId,
      },
    };
  };

  const failed = (
    reason: AcquisitionFailureReason,
    message: string,
    draftPath: string | null,
    lostPulses: { from: number; to: number } | null = null,
  ): Outcome => ({ type: 'acquisitionFailed', data: { reason, message, draftPath, lostPulses } });

  const acquire = async (params: AcquireParams, context: EffectContext): Promise<Outcome | undefined> => {
    const { request } = params;
    const buffer = options.source().buffer;
    const resuming = params.resumeFirstPulseId !== null;
    if (resuming) {
      const published = await publishedBeforeRestart(request.outputFile, context.id);
      if (published !== undefined) return published;
    }
    const draftPath = draftPathOf(request.outputFile);
    /** The first row of the file: null until known when the request said "the next pulse". */
    let firstRow: number | null = params.resumeFirstPulseId ?? request.startPulseId;

    let stop: SetStopParams | null = params.stop ?? (request.stopPulseId === null ? null : { stopPulseId: request.stopPulseId, now: false });
    let stopAt: number | null = null;
    let killReason: string | null = null;
    let writer: (SwissfelFileWriter & Partial<Pick<ThreadedSwissfelFileWriter, 'backlog' | 'onFailure' | 'opened'>>) | undefined;
    /** Set when the writer reported a failure on its own (its thread died, a pulse failed there). */
    let writeFailure: Error | null = null;
    let lastWritten: number | null = null;
    const control = new AbortController();
    const signal = AbortSignal.any([context.signal, control.signal]);

    /** Resolves a stop to a pulse id: `now` is the newest pulse the buffer holds at this moment. */
    const resolveStop = (s: SetStopParams): void => {
      stop = s;
      if (!s.now && s.stopPulseId !== null) stopAt = s.stopPulseId;
      else stopAt = Math.max(lastWritten ?? -1, buffer.counters().newestPulseId ?? -1);
      // Nothing more to wait for: wake the reader. Before the first row is written (the writer
      // may be opening, with the first pulse in hand) that is only so when the stop comes before
      // the first pulse: pulses from the first up to a stop "now" are in the buffer, to be written.
      const nothingLeft = lastWritten !== null ? stopAt <= lastWritten : firstRow === null || stopAt < firstRow;
      if (nothingLeft) control.abort(new Error('stopped'));
    };
    remember(ranHere, context.id, true);
    running.set(context.id, {
      setStop: resolveStop,
      kill: (reason) => {
        killReason = reason;
        control.abort(new Error('killed'));
      },
    });
    const pending = pendingStops.get(context.id);
    pendingStops.delete(context.id);
    if (stop !== null) resolveStop(stop);
    if (pending !== undefined) resolveStop(pending);

    const filter = channelFilter(request.channels);
    const startedAt = performance.now();
    let lastReport = { at: startedAt, written: 0, lastPulseId: null as number | null, rate: 0 };
    let reporting: Promise<unknown> | undefined;

    /**
     * Pulses the ring buffer evicted before this reader had them (with `onLoss: 'record'`): the
     * writer writes them as missing rows (the next pulse written skips their ids), and they are
     * reported in progress and at the end. Never silent: each is logged (at most one line a
     * second, the end names them all).
     */
    const onLoss = request.onLoss ?? 'record';
    let lost: { count: number; ranges: Array<{ from: number; to: number }> } | undefined;
    let lossLoggedAt = -Infinity;
    let lossesNotLogged = 0;
    const recordLoss = (loss: LostPulses): void => {
      let { to, count } = loss;
      const { from } = loss;
      if (stopAt !== null && from > stopAt) return;
      if (stopAt !== null && to > stopAt) {
        to = stopAt;
        count = Math.min(count, to - from + 1);
      }
      lost ??= { count: 0, ranges: [] };
      lost.count += count;
      const last = lost.ranges.at(-1);
      if (lost.ranges.length < MAX_LOST_RANGES) lost.ranges.push({ from, to });
      else if (last !== undefined) last.to = to;
      const now = performance.now();
      if (now - lossLoggedAt < 1_000) {
        lossesNotLogged++;
        return;
      }
      logger.warn(
        { acquisition: context.id, from, to, count, lostSoFar: lost.count, ...(lossesNotLogged > 0 ? { alsoLostSinceLastLine: lossesNotLogged } : {}) },
        `acquisition lost pulses ${from}..${to}: the ring buffer overtook its reader; they are written as missing rows`,
      );
      lossLoggedAt = now;
      lossesNotLogged = 0;
    };
    const lostNow = (): { lostPulses?: LostPulseRecord } =>
      lost === undefined ? {} : { lostPulses: { count: lost.count, ranges: lost.ranges.map((r) => ({ ...r })) } };

    const progress = (now: number): AcquisitionProgress => {
      const s = writer?.stats();
      const written = s?.pulsesWithMessage ?? 0;
      const seconds = (now - lastReport.at) / 1_000;
      const newest = buffer.counters().newestPulseId;
      return {
        lastPulseId: lastWritten,
        pulsesWritten: written,
        missingPulses: s?.pulsesMissing ?? 0,
        bytesWritten: s?.valueBytes ?? 0,
        ratePerSecond: seconds > 0 ? Math.max(0, (written - lastReport.written) / seconds) : 0,
        lagPulses: newest !== null && lastWritten !== null ? Math.max(0, newest - lastWritten) : 0,
        ...lostNow(),
      };
    };
    const maybeReport = (): void => {
      const now = performance.now();
      if (!startedRecorded || reporting !== undefined || now - lastReport.at < progressIntervalMs) return;
      const data = progress(now);
      // Nothing new since the last report, and its rate already says so: nothing to tell.
      if (data.pulsesWritten === lastReport.written && data.lastPulseId === lastReport.lastPulseId && lastReport.rate === 0) return;
      lastReport = { at: now, written: data.pulsesWritten, lastPulseId: data.lastPulseId, rate: data.ratePerSecond };
      reporting = context.report({ type: 'progress', data }).finally(() => (reporting = undefined));
    };

    /** Settles once `started` is recorded (rejects when the file could not be opened). */
    let started: Promise<void> | undefined;
    let startedRecorded = false;

    /**
     * Opens the file for rows from `first`. On a writer thread the open goes on while the reader
     * writes: the pulses wait in the thread's queue (see startSwissfelFileInThread), so a reader
     * never waits for the file while the ring buffer moves on. `started` is recorded once the
     * draft exists, before any progress.
     */
    const openWriter = async (first: number): Promise<NonNullable<typeof writer>> => {
      const fileOptions = {
        outputFile: request.outputFile,
        dataRoot: options.dataRoot,
        general: request.general,
        acquisitionId: context.id,
        ...(options.chunkRows === undefined ? {} : { chunkRows: options.chunkRows }),
      };
      const w: NonNullable<typeof writer> = options.openFile
        ? await options.openFile(fileOptions)
        : options.writer === 'inline'
          ? await openSwissfelFile(fileOptions)
          : startSwissfelFileInThread(fileOptions, options.writerThreads ?? sharedWriterThreadPool());
      firstRow = first;
      // The reader may be waiting on a silent stream: wake it to fail now, not at the next pulse.
      w.onFailure?.((e) => {
        writeFailure = e;
        control.abort(e);
      });
      const opened = w.opened ?? Promise.resolve({ draftPath: w.draftPath });
      started = opened.then(async ({ draftPath: draft }) => {
        const identity = options.identity?.();
        await context.report({ type: 'started', data: { firstPulseId: first, draftPath: draft, ...(identity ? { writer: identity } : {}) } });
        startedRecorded = true;
      });
      started.catch(() => undefined);
      return w;
    };

    /** Writes rows up to `pulseId` (the message's, or missing rows to close a stop that fell in a gap). */
    const writeRow = (pulseId: number, message: BsreadMessage | null): void => {
      writer!.writePulse(pulseId, message === null ? null : filter(message));
      lastWritten = pulseId;
    };

    const end = async (type: 'finished' | 'killed'): Promise<Outcome> => {
      // Stopped or killed before the first pulse: an empty file, as the request still asked for one.
      writer ??= await openWriter(firstRow ?? Math.max(0, stopAt ?? 0));
      await started;
      const p = progress(performance.now());
      const result = await writer.finish();
      if (killAfterPublishTestHook()) process.kill(process.pid, 'SIGKILL');
      logger.info({ acquisition: context.id, path: result.path, rows: result.stats.rows, bytes: result.bytes }, `acquisition ${type}`);
      if (lost !== undefined) {
        logger.warn(
          { acquisition: context.id, path: result.path, lostPulses: lost.count, ranges: lost.ranges },
          `acquisition ${type} with ${lost.count} pulses lost (${lost.ranges.map((r) => `${r.from}..${r.to}`).join(', ')}), written as missing rows`,
        );
      }
      return {
        type,
        data: {
          ...p,
          pulsesWritten: result.stats.pulsesWithMessage,
          missingPulses: result.stats.pulsesMissing,
          bytesWritten: result.bytes,
          lagPulses: 0,
          path: result.path,
          firstPulseId: result.stats.firstPulseId,
        },
      };
    };

    const keepDraft = async (): Promise<string | null> => {
      if (writer === undefined) return resuming ? draftPath : null;
      // A file that never opened leaves no draft ('').
      return (await writer.abort().catch(() => ({ draftPath: writer!.draftPath }))).draftPath || null;
    };

    /**
     * The reader was woken by an abort: the runtime stopping, the writer failing, a kill, or a stop
     * with nothing left to wait for.
     */
    const interrupted = async (): Promise<Outcome | undefined> => {
      if (context.signal.aborted) {
        await keepDraft();
        return undefined;
      }
      if (writeFailure !== null) {
        logger.error({ acquisition: context.id, err: writeFailure }, 'acquisition failed');
        return failed('WRITE_FAILED', messageOf(writeFailure), await keepDraft());
      }
      if (killReason !== null) return end('killed');
      if (stopAt !== null && lastWritten !== null && stopAt > lastWritten) writeRow(stopAt, null);
      return end('finished');
    };

    // Pulses are reported as they are written; this also reports what a writer thread finished
    // after the last pulse arrived, so a stream gone silent does not leave the progress behind.
    const ticker = setInterval(() => writer !== undefined && maybeReport(), progressIntervalMs);
    ticker.unref();
    try {
      const from = firstRow ?? (buffer.counters().newestPulseId ?? -1) + 1;
      let reader: AsyncIterableIterator<BsreadMessage>;
      try {
        reader = buffer.read(from, { signal, ...(onLoss === 'record' ? { onLost: recordLoss } : {}) });
      } catch (e) {
        if (signal.aborted) return await interrupted();
        if (!isPulseGoneError(e)) throw e;
        return lostAtStart(from, e.oldestPulseId ?? (buffer.counters().newestPulseId ?? from) + 1, e.message);
      }
      let sinceYield = performance.now();
      for (;;) {
        let next: IteratorResult<BsreadMessage>;
        try {
          next = await reader.next();
        } catch (e) {
          if (signal.aborted) return await interrupted();
          if (isPulseGoneError(e)) {
            const oldest = buffer.counters().oldestPulseId ?? e.pulseId + 1;
            const to = Math.min(oldest - 1, stopAt ?? Number.MAX_SAFE_INTEGER);
            return failed(
              'PULSES_LOST',
              `${e.message}; pulses ${e.pulseId}..${to} are lost, the draft is kept`,
              await keepDraft(),
              { from: e.pulseId, to: Math.max(e.pulseId, to) },
            );
          }
          throw e;
        }
        if (next.done) {
          // The buffer was closed: this process is stopping. The draft stays; a restart decides.
          await keepDraft();
          return undefined;
        }
        const message = next.value;
        if (writer === undefined) {
          const firstEver = buffer.counters().firstPulseIdEver;
          const wanted = firstRow ?? lost?.ranges[0]?.from ?? message.pulseId;
          if (firstRow !== null && firstEver !== null && firstEver > firstRow) {
            return lostAtStart(firstRow, firstEver, `pulse ${firstRow} arrived before this process received the stream (its first pulse: ${firstEver})`);
          }
          if (stopAt !== null && stopAt < wanted) return await end('finished');
          // Known before the open, which can take a while: a stop arriving meanwhile is judged against it.
          firstRow = wanted;
          writer = await openWriter(wanted);
          // The file starts at its first pulse whatever came first: pulses the stream never
          // delivered, or lost from the buffer before this reader had them, are missing rows.
          if (wanted < message.pulseId) writeRow(wanted, null);
        }
        if (stopAt !== null && message.pulseId > stopAt) {
          if (lastWritten === null || stopAt > lastWritten) writeRow(stopAt, null);
          return await end('finished');
        }
        writeRow(message.pulseId, message);
        if (stopAt !== null && message.pulseId >= stopAt) return await end('finished');
        maybeReport();
        // A writer thread that is far behind holds the reader here (the ring buffer keeps the rest).
        // A kill or a shutdown must not wait for it (storage may hang): the abort wakes this too.
        const behind = writer.backlog?.();
        if (behind !== undefined) {
          await untilAborted(behind, signal);
          if (signal.aborted) return await interrupted();
          sinceYield = performance.now();
        }
        // A long backlog is served from memory without touching the event loop: let the receiver in.
        const now = performance.now();
        if (now - sinceYield > 20) {
          await yieldToIo();
          sinceYield = performance.now();
        }
      }
    } catch (e) {
      logger.error({ acquisition: context.id, err: e }, 'acquisition failed');
      return failed('WRITE_FAILED', messageOf(e), await keepDraft());
    } finally {
      clearInterval(ticker);
      running.delete(context.id);
      await reporting;
    }

    function lostAtStart(start: number, firstAvailable: number, detail: string): Outcome {
      const to = Math.max(start, Math.min(firstAvailable - 1, stopAt ?? Number.MAX_SAFE_INTEGER));
      if (resuming) {
        return failed(
          'PULSES_LOST',
          `the process stopped while writing; pulses ${start}..${to} were only in the buffer that was lost (${detail}); the draft ${draftPath} is kept`,
          draftPath,
          { from: start, to },
        );
      }
      return failed('START_PULSE_GONE', `${detail}; nothing was written`, null, { from: start, to });
    }
  };

  const setStop = (params: SetStopParams, context: EffectContext): Promise<undefined> => {
    const r = running.get(context.id);
    if (r !== undefined) r.setStop(params);
    else remember(pendingStops, context.id, params);
    return Promise.resolve(undefined);
  };

  const kill = (params: KillParams, context: EffectContext): Promise<Outcome | undefined> => {
    const r = running.get(context.id);
    if (r !== undefined) {
      r.kill(params.reason);
      return Promise.resolve(undefined);
    }
    // Its writer ended here a moment ago: the outcome it returned is on its way.
    if (ranHere.has(context.id)) return Promise.resolve(undefined);
    return Promise.resolve(
      failed(
        'INTERRUPTED',
        `the process stopped before the kill closed the file${params.draftPath ? `; the draft ${params.draftPath} is kept` : ''}`,
        params.draftPath ?? null,
      ),
    );
  };

  return { acquire, setStop, kill } satisfies AcquisitionEffects;
};
