/**
 * A test hook, for tests only: `DAQFLOW_TEST_WRITER_STALL_MS=<ms>` in the environment of `daqflow
 * up` makes each writer thread stop for that long after the first pulse of each file, with the
 * thread's queue cut to 16 pulses, so that the stall reaches the acquisition's reader and the ring
 * buffer overtakes it, as it does a writer stuck on slow storage (docs/acquisitions.md, "Lost
 * pulses"). Unset (always, outside tests): no effect.
 */
import { ValidationError } from '../../events/errors.js';

export const WRITER_STALL_ENV = 'DAQFLOW_TEST_WRITER_STALL_MS';

/** The thread's queue while the hook is on: small, so that a stall holds the reader within a few pulses. */
export const STALLED_WRITER_MAX_PULSES = 16;

/** The stall asked for, in ms; undefined when the hook is off. */
export const writerStallTestHook = (env: NodeJS.ProcessEnv = process.env): number | undefined => {
  const text = env[WRITER_STALL_ENV];
  if (text === undefined || text === '') return undefined;
  const ms = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(ms) || ms < 1) {
    throw new ValidationError(`${WRITER_STALL_ENV} (a test hook) must be a whole number of milliseconds above 0, got ${JSON.stringify(text)}`);
  }
  return ms;
};

/** Blocks the calling thread for `ms` (a writer thread: nothing else runs on it meanwhile). */
export const stallThisThread = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};
