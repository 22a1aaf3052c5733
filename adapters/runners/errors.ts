/**
 * Errors of the job runners. Every failure a runner reports is a `JobRunnerError`: a
 * `DaqflowError` with a finer `reason` from `jobRunnerFailures`, a `retryable` flag, and the
 * scheduler command's stderr in the message where there is one. A job that *runs* and fails is
 * not an error: it is a `JobStatus` with state `failed`. These errors say the runner could not
 * do what it was asked.
 */
import { DaqflowError } from '../../events/errors.js';

/**
 * Why a runner call failed. `retryable` tells the actor whether asking again later may succeed
 * (the controller was restarting) or not (the spec is wrong, sbatch is not installed).
 */
export const jobRunnerFailures = {
  /** The spec cannot be run as given: a name with characters Slurm lists cannot hold, a bad env name. */
  BAD_SPEC: { code: 'VALIDATION_FAILED', retryable: false },
  /** sbatch, squeue, scancel or sacct is not installed where configured, or not executable. */
  EXECUTABLE_NOT_FOUND: { code: 'INTERNAL', retryable: false },
  /** sbatch refused the job (a bad partition, time or account): submitting again gives the same answer. */
  SUBMIT_REJECTED: { code: 'VALIDATION_FAILED', retryable: false },
  /** The controller did not answer (down, restarting, socket timed out), or the command hung. */
  SCHEDULER_UNAVAILABLE: { code: 'STORE_UNAVAILABLE', retryable: true },
  /** A scheduler command failed in a way we do not recognise; its stderr is in the message. */
  COMMAND_FAILED: { code: 'INTERNAL', retryable: true },
  /** A scheduler command succeeded but printed something we cannot read (no job id from sbatch). */
  BAD_OUTPUT: { code: 'INTERNAL', retryable: false },
  /** The local runner has no job with that id in its state folder. */
  UNKNOWN_JOB: { code: 'INVALID_REQUEST', retryable: false },
  /** The local runner already has a job of that name: names must be unique per attempt. */
  DUPLICATE_JOB: { code: 'DUPLICATE', retryable: false },
} as const;

export type JobRunnerFailure = keyof typeof jobRunnerFailures;

export interface JobRunnerErrorDetails {
  /** The scheduler command that failed, e.g. `sbatch`. */
  command?: string;
  /** Its exit code, when it ran. */
  exitCode?: number | null;
  /** Its stderr, trimmed. */
  stderr?: string;
  jobId?: string;
  jobName?: string;
  [key: string]: unknown;
}

/** A runner call that failed; `retryable` says whether the same call may succeed later. */
export class JobRunnerError extends DaqflowError {
  override readonly name = 'JobRunnerError';
  readonly reason: JobRunnerFailure;
  readonly retryable: boolean;
  readonly stderr: string | undefined;

  constructor(reason: JobRunnerFailure, message: string, details: JobRunnerErrorDetails = {}, options?: ErrorOptions) {
    const { code, retryable } = jobRunnerFailures[reason];
    super(code, message, { reason, retryable, ...details }, options);
    this.reason = reason;
    this.retryable = retryable;
    this.stderr = details.stderr;
  }
}

export const isJobRunnerError = (e: unknown): e is JobRunnerError => e instanceof JobRunnerError;
