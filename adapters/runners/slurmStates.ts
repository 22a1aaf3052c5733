/**
 * Slurm job states (squeue `%T`, sacct `State`) to daqflow job states, as docs/formats.md
 * tabulates them. Pure: the caller reads the exit marker and cancel note.
 */
import { cancelledStatus, describeExit, type CancelNote } from './exitMarker.js';
import type { JobFailure, JobStatus } from './jobRunner.js';

type SlurmClass =
  | { readonly state: 'pending' | 'running' | 'completed' | 'cancelled' | 'timed_out' }
  | { readonly state: 'failed'; readonly failure: JobFailure; readonly reason: string };

/**
 * Every state word of squeue.1 and sacct.1 at 22.05 and of job_state_codes.shtml at HEAD, with
 * the flags squeue shows in place of the base state. A word not listed maps to `unknown`.
 */
export const slurmStateTable = {
  PENDING: { state: 'pending' },
  CONFIGURING: { state: 'pending' },
  POWER_UP_NODE: { state: 'pending' },
  REQUEUED: { state: 'pending' },
  REQUEUE_FED: { state: 'pending' },
  REQUEUE_HOLD: { state: 'pending' },
  RESIZING: { state: 'pending' },
  RESV_DEL_HOLD: { state: 'pending' },
  SPECIAL_EXIT: { state: 'pending' },
  RUNNING: { state: 'running' },
  COMPLETING: { state: 'running' },
  SIGNALING: { state: 'running' },
  STAGE_OUT: { state: 'running' },
  SUSPENDED: { state: 'running' },
  STOPPED: { state: 'running' },
  UPDATE_DB: { state: 'running' },
  COMPLETED: { state: 'completed' },
  CANCELLED: { state: 'cancelled' },
  TIMEOUT: { state: 'timed_out' },
  DEADLINE: { state: 'timed_out' },
  // FAILED is refined by its reason in mapSlurmState.
  FAILED: { state: 'failed', failure: 'exit_code', reason: 'the job failed' },
  OUT_OF_MEMORY: { state: 'failed', failure: 'out_of_memory', reason: 'out of memory: Slurm killed the job at its memory limit' },
  NODE_FAIL: { state: 'failed', failure: 'infrastructure', reason: 'node failure: a node of the job failed' },
  BOOT_FAIL: { state: 'failed', failure: 'infrastructure', reason: 'boot failure: a node of the job did not boot' },
  LAUNCH_FAILED: { state: 'failed', failure: 'infrastructure', reason: 'launch failure: Slurm could not start the job' },
  // PREEMPTED "may transition to another state": with requeue it shows as REQUEUED/PENDING
  // instead; seen as PREEMPTED, it has ended.
  PREEMPTED: { state: 'failed', failure: 'preempted', reason: 'preempted by a job of higher priority' },
  REVOKED: { state: 'failed', failure: 'infrastructure', reason: 'revoked: another cluster of the federation runs it' },
} as const satisfies Record<string, SlurmClass>;

export interface SlurmStateInput {
  /** As printed: `CANCELLED by 0` (sacct) and a trailing `+` (truncation) are fine. */
  readonly state: string;
  /** squeue `%r`; `None` means none. */
  readonly reason?: string;
  /** From the exit marker, when there is one. */
  readonly exitCode?: number | null;
  /** daqflow's cancel note, which turns CANCELLED into `timed_out` for a timeout. */
  readonly note?: CancelNote | null;
}

/** The state word: the first word, upper case, without sacct's truncation mark. */
export const slurmStateWord = (state: string): string => (state.trim().split(/\s+/)[0] ?? '').replace(/\+$/, '').toUpperCase();

export const mapSlurmState = (input: SlurmStateInput): JobStatus => {
  const slurmState = slurmStateWord(input.state);
  const slurmReason = input.reason && input.reason !== 'None' && input.reason !== '(null)' ? input.reason : undefined;
  const exitCode = input.exitCode ?? null;
  const entry: SlurmClass | undefined = (slurmStateTable as Record<string, SlurmClass>)[slurmState];
  if (!entry) {
    return { state: 'unknown', slurmState, exitCode, reason: `Slurm state ${slurmState || '(empty)'} is not one daqflow knows` };
  }
  switch (entry.state) {
    case 'pending':
    case 'running':
      return { state: entry.state, slurmState, ...(slurmReason ? { reason: slurmReason } : {}) };
    case 'completed':
      return { state: 'completed', slurmState, exitCode: exitCode ?? 0 };
    case 'timed_out':
      return { state: 'timed_out', slurmState, exitCode, reason: `Slurm ended the job: ${slurmReason ?? 'time limit'}` };
    case 'cancelled':
      return input.note
        ? { ...cancelledStatus(input.note, exitCode), slurmState }
        : { state: 'cancelled', slurmState, exitCode, reason: 'cancelled outside daqflow (scancel by a user or an administrator)' };
    case 'failed': {
      if (slurmState !== 'FAILED') {
        return { state: 'failed', slurmState, exitCode, failure: entry.failure, reason: entry.reason };
      }
      // FAILED covers both the command's own non-zero exit and Slurm failing to run it.
      if (slurmReason === 'JobLaunchFailure' || (exitCode === null && slurmReason !== 'NonZeroExitCode')) {
        return {
          state: 'failed',
          slurmState,
          exitCode,
          failure: 'infrastructure',
          reason: `Slurm could not run the job${slurmReason ? ` (${slurmReason})` : ''}`,
        };
      }
      return {
        state: 'failed',
        slurmState,
        exitCode,
        failure: 'exit_code',
        reason: exitCode === null ? 'exited with a non-zero code (no exit marker)' : describeExit(exitCode),
      };
    }
  }
};
