/**
 * The port through which report jobs run: a local runner (child processes) and a Slurm runner
 * implement it. A runner keeps no state of its own that matters after a restart: what it needs
 * to find a job again is the job's id and exit-marker path (a `JobRef`, which the actor stores
 * in its events) and files on disk.
 *
 * Crash between submit and recording the id: the actor calls `findByName` with the same spec
 * before submitting again, so a job is never submitted twice. Names must therefore be unique
 * per attempt (`jobName(reportId, jobKey, attempt)`).
 *
 * Timeouts are the actor's: it compares its own deadline and calls `cancel(ref, { reason:
 * 'timeout' })`. The runner notes the reason beside the exit marker, so every later `poll` (by
 * this or a restarted runner) answers `timed_out` rather than `cancelled`. A Slurm `--time`
 * limit (`timeLimitSeconds`) is a safety net on top: Slurm enforces it only to the minute, and
 * late (about 80 s for a 60 s limit); it also ends as `timed_out`.
 */

export interface JobSpec {
  /** Deterministic and unique per attempt; `[A-Za-z0-9._-]`, at most 200 characters (see `jobName`). */
  readonly name: string;
  /** The program and its arguments; run without a shell, so nothing needs quoting. */
  readonly command: readonly string[];
  /** Working folder of the command; created when missing. */
  readonly workDir: string;
  /** Added to the runner's own environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Extra sbatch options of this job (`--partition=upex`, `--mem=8G`); the local runner ignores them. */
  readonly slurmArgs?: readonly string[];
  /** Handed to Slurm as `--time` (rounded up to whole minutes by Slurm); the local runner ignores it. */
  readonly timeLimitSeconds?: number;
  readonly stdoutPath: string;
  readonly stderrPath: string;
  /**
   * Written when the command ends: `{"jobId","exitCode"}`. The only record of the exit code once
   * a Slurm job has left squeue (no accounting) or once a local job's parent has gone. It must be
   * on a folder the runner's host can read (a shared file system for Slurm).
   */
  readonly exitMarkerPath: string;
}

/** What the actor stores to find a job again: everything poll and cancel need. */
export interface JobRef {
  readonly jobId: string;
  readonly exitMarkerPath: string;
}

export type JobState = 'pending' | 'running' | 'completed' | 'failed' | 'timed_out' | 'cancelled' | 'unknown';

/**
 * Why a job failed, for the actor's retry decision (Slurm's job states in docs/formats.md): a non-zero exit is the
 * command's own; the others are the cluster's and usually worth a retry.
 */
export type JobFailure = 'exit_code' | 'infrastructure' | 'out_of_memory' | 'preempted' | 'lost';

export interface JobStatus {
  readonly state: JobState;
  /** Known once the command has ended and written its exit marker; null when it never will. */
  readonly exitCode?: number | null;
  /** Human-readable: what happened, in the scheduler's words where it has some. */
  readonly reason?: string;
  /** Set when `state` is `failed`. */
  readonly failure?: JobFailure;
  /** Slurm's state word (e.g. `OUT_OF_MEMORY`), for the record; absent for local jobs. */
  readonly slurmState?: string;
}

export interface CancelOptions {
  /** `timeout`: the actor's job timeout passed, and later polls answer `timed_out`. Default `requested`. */
  readonly reason?: 'requested' | 'timeout';
}

export interface JobRunner {
  /** Which runner this is, as the report configuration names it. */
  readonly kind: 'local' | 'slurm';
  /** Hands the job to the scheduler (or the local queue); never waits for it to start. */
  submit(spec: JobSpec): Promise<JobRef>;
  /** The job's state now. Throws only when the runner cannot tell (scheduler unreachable). */
  poll(ref: JobRef): Promise<JobStatus>;
  /** Stops the job if it has not ended; a no-op for one that has. */
  cancel(ref: JobRef, options?: CancelOptions): Promise<void>;
  /** The job submitted earlier for this name, or null: what a recovering actor asks before submitting. */
  findByName(lookup: JobLookup): Promise<JobRef | null>;
}

/** What findByName needs: the name, and the marker that still names a finished job's id. */
export type JobLookup = Pick<JobSpec, 'name' | 'exitMarkerPath'>;

const terminalStates: ReadonlySet<JobState> = new Set(['completed', 'failed', 'timed_out', 'cancelled']);

/** True for the states a job never leaves. `unknown` is not one: the runner will find out. */
export const isTerminal = (state: JobState): boolean => terminalStates.has(state);
