/**
 * A data-logger source: where a grab run reads the recorded history of a facility's parameters.
 * Two implementations: the EPICS Archiver Appliance (`archiverAppliance.ts`) and a deterministic
 * simulator for the demo and the tests (`simulator.ts`).
 *
 * Samples are streamed in bounded batches, never a whole window at once: a consumer that writes
 * each batch out before asking for the next holds at most one batch (plus whatever the source
 * buffers for one request, see the implementations) whatever the window's length.
 */
import { DataLoggerError } from './errors.js';

/** Default number of samples per batch: 4,096 float64, 32 KiB per array. */
export const DEFAULT_BATCH_SAMPLES = 4_096;

/** A run of consecutive samples of one parameter, in time order. */
export interface SampleBatch {
  /**
   * Sample times in UTC seconds since 1970-01-01T00:00:00Z, as float64 (about 0.24 µs
   * resolution today). Non-decreasing, within the batch and across the batches of one call.
   */
  readonly times: Float64Array;
  /** One value per time. NaN where the value is missing or not a number (strings, NaN). */
  readonly values: Float64Array;
  /** Engineering units, when the source knows them. */
  readonly units?: string;
  /**
   * Progress: every sample of the window earlier than `through` has been delivered by this batch
   * or an earlier one. A call that stopped (an error, an abort) resumes with
   * `fetchSamples(parameter, through, to)`; samples at or after `through` that were already
   * delivered come again, so the consumer skips times at or before the last one it kept.
   * The last batch of a call has `through` equal to `to`.
   */
  readonly through: Date;
}

/** What a source knows about a parameter without reading its samples. */
export interface ParameterDescription {
  readonly exists: boolean;
  readonly units?: string;
}

export interface DataLoggerSource {
  /** A name for messages and logs, e.g. `archiver appliance http://host:17668/retrieval`. */
  readonly name: string;
  /**
   * Streams the samples of `parameter` with times in the half-open window [from, to): a time t
   * (float seconds) is in it when `from.getTime() / 1000 <= t < to.getTime() / 1000`.
   *
   * Batches hold at most the source's batch size of samples and may be empty (an empty batch
   * still reports progress and units). `from` equal to `to` is an empty window.
   *
   * Fails with a `DataLoggerError`: `UNKNOWN_PARAMETER` and `BAD_WINDOW` (not retryable) before
   * the first batch; `UNAVAILABLE` or `TIMEOUT` (retryable) at any point. An aborted `signal`
   * ends the iteration with the signal's reason.
   */
  fetchSamples(parameter: string, from: Date, to: Date, signal?: AbortSignal): AsyncIterable<SampleBatch>;
  /**
   * Whether the source knows `parameter`, and its units. An unknown parameter is
   * `{ exists: false }`, not an error; an unreachable source fails like `fetchSamples`.
   */
  describe(parameter: string, signal?: AbortSignal): Promise<ParameterDescription>;
}

/** Checks a window and returns its bounds in float seconds; throws `BAD_WINDOW` otherwise. */
export function windowSeconds(parameter: string, from: Date, to: Date): { fromS: number; toS: number } {
  const fromMs = from instanceof Date ? from.getTime() : Number.NaN;
  const toMs = to instanceof Date ? to.getTime() : Number.NaN;
  if (!Number.isFinite(fromMs) || !Number.isFinite(toMs)) {
    throw new DataLoggerError('BAD_WINDOW', `the window of ${parameter} needs two valid dates`, { parameter });
  }
  if (fromMs > toMs) {
    throw new DataLoggerError(
      'BAD_WINDOW',
      `the window of ${parameter} ends before it starts (${from.toISOString()} > ${to.toISOString()})`,
      { parameter, from: from.toISOString(), to: to.toISOString() },
    );
  }
  return { fromS: fromMs / 1000, toS: toMs / 1000 };
}

/**
 * The latest whole millisecond whose time is not after `t` in the float comparison that defines
 * windows (`ms / 1000 <= t`): a `through` that claims no sample at or after `t`.
 */
export function millisecondAtOrBefore(t: number): number {
  let ms = Math.floor(t * 1000);
  while (ms / 1000 > t) ms--;
  while ((ms + 1) / 1000 <= t) ms++;
  return ms;
}
