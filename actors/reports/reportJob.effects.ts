import type { ReportRunner } from './reportConfig.js';
import type { Artifact, CancelReason, JobState, ReportJobSpec, ReportMode } from './reportJob.events.js';

/**
 * Parameters of the report job's effects, as the machine requests them. The effects (runners,
 * plotting, publishing) live in the adapters; every one must be idempotent, since a restarted
 * runtime re-issues the effects its actor's state waits on.
 *
 * Folders: a job works in `<workDir>/<report id>/jobs/<jobKey>/` (its plots, its log, the runner's
 * exit marker); the report is drafted in `<workDir>/<report id>/report/` and, in `local` and
 * `prod`, published to `<outDir>/<report id>/`.
 */

/** `daqflow-<report id>-<jobKey>`: how a runner finds a job again when its id was never recorded. */
export const runnerJobNameOf = (reportId: string, jobKey: string): string => `daqflow-${reportId}-${jobKey}`;

export const reportWorkDirOf = (workDir: string, reportId: string): string => `${workDir}/${reportId}`;
export const jobWorkDirOf = (workDir: string, reportId: string, jobKey: string): string => `${workDir}/${reportId}/jobs/${jobKey}`;
export const reportDraftDirOf = (workDir: string, reportId: string): string => `${workDir}/${reportId}/report`;
export const publishedDirOf = (outDir: string, reportId: string): string => `${outDir}/${reportId}`;

/**
 * Hands one job to the runner → `jobSubmitted {jobKey, runnerJobId, found}` or
 * `jobSubmitFailed {jobKey, reason, message}` (return it, do not throw: a thrown error fails the
 * whole report). With `findExisting` (re-issued after a restart) the runner first looks for a
 * job named `jobName` and answers `found: true` with its id instead of submitting a second one.
 */
export interface SubmitJobParams {
  readonly reportId: string;
  readonly jobKey: string;
  readonly jobName: string;
  readonly runner: ReportRunner;
  readonly findExisting: boolean;
  readonly workDir: string;
  readonly job: ReportJobSpec;
  /** sbatch options (slurm runner only; its own --time limit may be derived from timeoutSeconds). */
  readonly slurm: { readonly partition?: string; readonly account?: string; readonly time?: string; readonly mem?: string } | null;
  readonly timeoutSeconds: number;
}

/** One job as the runner should look at it. */
export interface RunnerJobRef {
  readonly jobKey: string;
  readonly jobName: string;
  /** Null only for a job never recorded as submitted (cancel by name). */
  readonly runnerJobId: string | null;
  readonly workDir: string;
}

/**
 * Asks the runner about the unfinished jobs → a `jobStatus` event for each job whose state
 * differs from `state` (returned, or sent with `report()`); nothing when nothing changed. A
 * failed poll may be thrown: it is recorded and the next poll comes at the next interval.
 */
export interface PollJobsParams {
  readonly reportId: string;
  readonly runner: ReportRunner;
  readonly round: number;
  readonly jobs: ReadonlyArray<RunnerJobRef & { readonly state: JobState }>;
}

/**
 * Cancels jobs (scancel, or killing the child) → `jobsCancelled {why, jobs[]}` with an outcome
 * for every job listed. A job without a runner id is cancelled by its name: its submission may
 * have landed without being recorded.
 */
export interface CancelJobsParams {
  readonly reportId: string;
  readonly runner: ReportRunner;
  readonly why: CancelReason;
  readonly jobs: readonly RunnerJobRef[];
}

/** Lists what each completed job left in its work folder → `artifactsCollected`, or `failed {stage: 'collect'}`. */
export interface CollectArtifactsParams {
  readonly reportId: string;
  readonly jobs: ReadonlyArray<{ readonly jobKey: string; readonly workDir: string; readonly job: ReportJobSpec }>;
}

/**
 * Builds the report in `draftDir` (emptied first: a rebuild after a restart starts clean): an
 * HTML index, a page per instrument, the plots; jobs that did not complete are listed with their
 * state and reason → `reportBuilt {dir, index, files}`, or `failed {stage: 'build', reason}`.
 */
export interface BuildReportParams {
  readonly reportId: string;
  readonly mode: ReportMode;
  readonly title: string;
  /** Time of the `requested` event. */
  readonly createdAt: string;
  readonly draftDir: string;
  readonly jobs: ReadonlyArray<{
    readonly jobKey: string;
    readonly job: ReportJobSpec;
    readonly state: JobState;
    readonly exitCode: number | null;
    readonly reason: string | null;
    readonly artifacts: readonly Artifact[];
  }>;
}

/**
 * Moves the draft to `targetDir` (atomically: copy beside it, then rename) and, in `prod`,
 * commits `files` under `<subFolder>/<report id>/` of the git target and pushes → `published
 * {dir, commit}`, or `failed {stage: 'publish', reason}`. Again after a restart: a target that is
 * already complete, a commit already pushed, are success.
 */
export interface PublishParams {
  readonly reportId: string;
  readonly mode: 'local' | 'prod';
  readonly title: string;
  readonly draftDir: string;
  readonly targetDir: string;
  readonly files: readonly Artifact[];
  readonly git: { readonly gitUrl: string; readonly branch: string; readonly subFolder: string } | null;
}
