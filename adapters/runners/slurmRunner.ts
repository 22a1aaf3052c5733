import { userInfo } from 'node:os';
import { JobRunnerError, type JobRunnerFailure } from './errors.js';
import {
  cancelledStatus,
  prepareJobFiles,
  readCancelNote,
  readExitMarker,
  statusFromMarker,
  wrapperScript,
  writeCancelNote,
  type ExitMarker,
} from './exitMarker.js';
import { isTerminal, type CancelOptions, type JobLookup, type JobRef, type JobRunner, type JobSpec, type JobStatus } from './jobRunner.js';
import { checkJobSpec } from './jobSpec.js';
import { runCommand, type CommandResult } from './runCommand.js';
import { mapSlurmState } from './slurmStates.js';

export interface SlurmRunnerOptions {
  /** Paths of the Slurm commands; tests point these at wrappers or stand-ins. Default: from PATH. */
  readonly sbatchPath?: string;
  readonly squeuePath?: string;
  readonly scancelPath?: string;
  /**
   * With accounting (slurmdbd), a job that has left squeue is looked up with sacct before the
   * exit marker: it knows OUT_OF_MEMORY and NODE_FAIL, which the marker cannot tell. Absent: no sacct.
   */
  readonly sacctPath?: string;
  /** Added to the environment of every Slurm command, e.g. `SLURM_CONF` of the cluster to use. */
  readonly env?: Readonly<Record<string, string>>;
  /** Added to every sbatch call: `--partition=…`, `--mem=…`, `--account=…`. */
  readonly sbatchArgs?: readonly string[];
  /** A Slurm command that takes longer fails as SCHEDULER_UNAVAILABLE. Default 30 s. */
  readonly commandTimeoutMs?: number;
  /**
   * How long a job may be missing from squeue with no exit marker before it counts as lost
   * (failed). Covers a marker not yet visible through a shared file system's cache. Default 60 s.
   */
  readonly lostAfterMs?: number;
  /** Whose jobs findByName looks among. Default: the user daqflow runs as. */
  readonly user?: string;
  /** The clock of the lost-job grace period. */
  readonly now?: () => number;
}

// Messages of the Slurm client library when it cannot reach or use the controller; asking
// again later may work.
const unavailablePattern =
  /Unable to contact slurm controller|Socket timed out|Connection refused|Zero Bytes were transmitted|Transport endpoint|communication connection failure|backup controller in standby|Slurm temporarily unable|Resource temporarily unavailable/i;
const invalidJobPattern = /Invalid job id/i;
const alreadyEndedPattern = /already completing or completed|Invalid job id/i;

// In --output and --error a % starts a replacement pattern (%j, %x); %% is a literal %.
const slurmFilename = (path: string): string => path.replace(/%/g, '%%');

// --time takes minutes:seconds; Slurm rounds up to whole minutes.
const slurmTime = (seconds: number): string => `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;

// sacct ExitCode is `exit:signal`; a job ended by a signal reads like bash's 128 + signal.
const sacctExitCode = (text: string | undefined): number | null => {
  const match = /^(\d+):(\d+)$/.exec(text ?? '');
  if (!match) return null;
  const signal = Number(match[2]);
  return signal > 0 ? 128 + signal : Number(match[1]);
};

interface QueueRow {
  readonly jobId: string;
  readonly state: string;
  readonly reason?: string;
}

/**
 * The Slurm runner: `sbatch --parsable` with the exit-marker wrapper on stdin, `squeue` to poll,
 * `scancel` to cancel, optionally `sacct`. Every job is submitted with `--no-requeue`, so one Slurm
 * job is one attempt and a retry (a new name) is the actor's decision, on record.
 *
 * Jobs are polled one at a time (`squeue -j <id>`); a report has a handful of jobs, polled at
 * the report's update interval.
 */
export class SlurmRunner implements JobRunner {
  readonly kind = 'slurm' as const;
  private readonly sbatchPath: string;
  private readonly squeuePath: string;
  private readonly scancelPath: string;
  private readonly sacctPath: string | undefined;
  private readonly env: NodeJS.ProcessEnv;
  private readonly sbatchArgs: readonly string[];
  private readonly commandTimeoutMs: number;
  private readonly lostAfterMs: number;
  private readonly user: string;
  private readonly now: () => number;
  // When each job was first seen missing from squeue without a marker: the grace period's start.
  // Lost on restart, which only restarts the grace period.
  private readonly missingSince = new Map<string, number>();

  constructor(options: SlurmRunnerOptions = {}) {
    this.sbatchPath = options.sbatchPath ?? 'sbatch';
    this.squeuePath = options.squeuePath ?? 'squeue';
    this.scancelPath = options.scancelPath ?? 'scancel';
    this.sacctPath = options.sacctPath;
    this.env = { ...process.env, ...options.env };
    this.sbatchArgs = options.sbatchArgs ?? [];
    this.commandTimeoutMs = options.commandTimeoutMs ?? 30_000;
    this.lostAfterMs = options.lostAfterMs ?? 60_000;
    this.user = options.user ?? userInfo().username;
    this.now = options.now ?? Date.now;
  }

  async submit(spec: JobSpec): Promise<JobRef> {
    checkJobSpec(spec);
    await prepareJobFiles(spec);
    const args = [
      '--parsable',
      `--job-name=${spec.name}`,
      `--chdir=${spec.workDir}`,
      `--output=${slurmFilename(spec.stdoutPath)}`,
      `--error=${slurmFilename(spec.stderrPath)}`,
      '--no-requeue',
      ...(spec.timeLimitSeconds ? [`--time=${slurmTime(spec.timeLimitSeconds)}`] : []),
      ...this.sbatchArgs,
      ...(spec.slurmArgs ?? []),
    ];
    const result = await this.run(this.sbatchPath, args, wrapperScript(spec, '"$SLURM_JOB_ID"'));
    if (result.exitCode !== 0) throw this.failure('sbatch', result, 'SUBMIT_REJECTED', { jobName: spec.name });
    // "<id>" or "<id>;<cluster>" on the last line; warnings may come before it.
    const last = result.stdout.trim().split('\n').pop()?.trim() ?? '';
    const match = /^(\d+)(?:;\S+)?$/.exec(last);
    if (!match?.[1]) {
      throw new JobRunnerError('BAD_OUTPUT', `sbatch printed no job id for ${spec.name}: ${JSON.stringify(result.stdout.trim())}`, {
        command: 'sbatch',
        jobName: spec.name,
        stderr: result.stderr,
      });
    }
    return { jobId: match[1], exitMarkerPath: spec.exitMarkerPath };
  }

  async poll(ref: JobRef): Promise<JobStatus> {
    const row = await this.queueRow(ref.jobId);
    const note = await readCancelNote(ref.exitMarkerPath);
    if (row) {
      this.missingSince.delete(ref.jobId);
      const marker = await this.markerOf(ref);
      return mapSlurmState({ state: row.state, reason: row.reason, exitCode: marker?.exitCode, note });
    }
    const marker = await this.markerOf(ref);
    if (this.sacctPath) {
      const accounted = await this.accountingRow(ref.jobId);
      if (accounted) {
        this.missingSince.delete(ref.jobId);
        return mapSlurmState({ state: accounted.state, exitCode: marker?.exitCode ?? accounted.exitCode, note });
      }
    }
    if (marker) {
      this.missingSince.delete(ref.jobId);
      return statusFromMarker(marker, note);
    }
    if (note) {
      this.missingSince.delete(ref.jobId);
      return cancelledStatus(note, null);
    }
    const since = this.missingSince.get(ref.jobId) ?? this.now();
    this.missingSince.set(ref.jobId, since);
    if (this.now() - since < this.lostAfterMs) {
      return { state: 'unknown', exitCode: null, reason: `job ${ref.jobId} is not in squeue and its exit marker is not there (yet)` };
    }
    this.missingSince.delete(ref.jobId);
    return {
      state: 'failed',
      exitCode: null,
      failure: 'lost',
      reason:
        `job ${ref.jobId} is not known to Slurm and left no exit marker at ${ref.exitMarkerPath} within ` +
        `${this.lostAfterMs} ms: it was killed before its wrapper could write one, or its node was lost`,
    };
  }

  async cancel(ref: JobRef, options: CancelOptions = {}): Promise<void> {
    // A job that has ended keeps its result: a note now would relabel a failure as a timeout.
    if (isTerminal((await this.poll(ref)).state)) return;
    await writeCancelNote(ref.exitMarkerPath, options.reason ?? 'requested');
    const result = await this.run(this.scancelPath, [ref.jobId]);
    // scancel exits 0 even for a job it no longer knows; its stderr says so.
    if (result.exitCode !== 0 && !alreadyEndedPattern.test(result.stderr)) {
      throw this.failure('scancel', result, 'COMMAND_FAILED', { jobId: ref.jobId });
    }
  }

  async findByName(lookup: JobLookup): Promise<JobRef | null> {
    const result = await this.run(this.squeuePath, ['-h', '-t', 'all', '-u', this.user, '-n', lookup.name, '-o', '%i|%T']);
    if (result.exitCode !== 0) throw this.failure('squeue', result, 'COMMAND_FAILED', { jobName: lookup.name });
    const rows = this.parseRows(result.stdout).sort((a, b) => Number(b.jobId) - Number(a.jobId));
    // Several jobs of one name (an attempt resubmitted by hand): the live one, else the newest.
    const live = rows.find((row) => !isTerminal(mapSlurmState({ state: row.state }).state));
    const found = live ?? rows[0];
    if (found) return { jobId: found.jobId, exitMarkerPath: lookup.exitMarkerPath };
    // Gone from squeue (MinJobAge passed): its marker still names it.
    const marker = await readExitMarker(lookup.exitMarkerPath);
    return marker ? { jobId: marker.jobId, exitMarkerPath: lookup.exitMarkerPath } : null;
  }

  private async queueRow(jobId: string): Promise<QueueRow | null> {
    const result = await this.run(this.squeuePath, ['-h', '-t', 'all', '-j', jobId, '-o', '%i|%T|%r']);
    if (result.exitCode !== 0) {
      if (invalidJobPattern.test(result.stderr)) return null;
      throw this.failure('squeue', result, 'COMMAND_FAILED', { jobId });
    }
    return this.parseRows(result.stdout).find((row) => row.jobId === jobId) ?? null;
  }

  private async accountingRow(jobId: string): Promise<{ state: string; exitCode: number | null } | null> {
    const sacct = this.sacctPath;
    if (!sacct) return null;
    const result = await this.run(sacct, ['-X', '-P', '-n', '-j', jobId, '--format=JobID,State,ExitCode']);
    if (result.exitCode !== 0) throw this.failure('sacct', result, 'COMMAND_FAILED', { jobId });
    for (const line of result.stdout.split('\n')) {
      const [id, state, exit] = line.trim().split('|');
      if (id === jobId && state) return { state, exitCode: sacctExitCode(exit) };
    }
    return null;
  }

  private parseRows(stdout: string): QueueRow[] {
    return stdout
      .split('\n')
      .map((line) => line.trim().split('|'))
      .filter((fields): fields is [string, string, ...string[]] => fields.length >= 2 && /^\d+$/.test(fields[0] ?? ''))
      .map(([jobId, state, reason]) => ({ jobId, state, ...(reason === undefined ? {} : { reason }) }));
  }

  // A marker left by another job of the same paths is not this job's end.
  private async markerOf(ref: JobRef): Promise<ExitMarker | null> {
    const marker = await readExitMarker(ref.exitMarkerPath);
    return marker && marker.jobId === ref.jobId ? marker : null;
  }

  private run(path: string, args: readonly string[], input?: string): Promise<CommandResult> {
    return runCommand(path, args, { env: this.env, timeoutMs: this.commandTimeoutMs, ...(input === undefined ? {} : { input }) });
  }

  private failure(
    command: string,
    result: CommandResult,
    otherwise: JobRunnerFailure,
    details: { jobId?: string; jobName?: string },
  ): JobRunnerError {
    const reason: JobRunnerFailure = unavailablePattern.test(result.stderr) ? 'SCHEDULER_UNAVAILABLE' : otherwise;
    const what = details.jobName ?? `job ${details.jobId ?? ''}`.trim();
    return new JobRunnerError(
      reason,
      `${command} failed for ${what} (exit code ${result.exitCode ?? 'none'}): ${result.stderr || '(no stderr)'}`,
      { command, exitCode: result.exitCode, stderr: result.stderr, ...details },
    );
  }
}
