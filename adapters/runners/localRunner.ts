import { spawn } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../files/writeFileAtomic.js';
import { JobRunnerError } from './errors.js';
import {
  cancelledStatus,
  prepareJobFiles,
  readCancelNote,
  readExitMarker,
  shellQuote,
  statusFromMarker,
  wrapperScript,
  writeCancelNote,
  type ExitMarker,
} from './exitMarker.js';
import { isTerminal, type CancelOptions, type JobLookup, type JobRef, type JobRunner, type JobSpec, type JobStatus } from './jobRunner.js';
import { checkJobSpec, isJobName } from './jobSpec.js';
import { identify, liveness, signalGroup, type ProcessIdentity } from './processIdentity.js';

export interface LocalRunnerOptions {
  /** Where the runner keeps one folder per job; the same folder after a restart finds the jobs again. */
  readonly stateDir: string;
  /** Jobs running at once; the others wait as `pending`. Default: the number of CPUs. */
  readonly maxConcurrent?: number;
  /** How long a cancelled job has between SIGTERM and SIGKILL. Default 5 s. */
  readonly killWaitMs?: number;
}

interface JobRecord {
  readonly spec: JobSpec;
  readonly submittedAt: number;
}

// Who took a job's claim file first: a runner that started it, or a cancel that came before.
type Claim = 'start' | 'cancel';

const readText = async (path: string): Promise<string | null> => {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
};


/**
 * Runs jobs as child processes of this machine, at most `maxConcurrent` at once. Each job is a
 * detached process group (bash wrapper + command) with its pid and start time, claim and spec
 * in `<stateDir>/<name>/`, and the shared exit-marker convention: so a job outlives the daqflow
 * process that started it, and a new runner on the same folder polls, cancels and (for queued
 * jobs) starts it. The job id is the job name.
 *
 * Queued jobs are started when a job of this runner ends, and on every submit and poll (the
 * actor polls at its update interval), so a restarted runner picks up the queue of the old one.
 * One runner per state folder is the intended use: two at once would each keep their own limit,
 * though the claim file still starts each job only once.
 */
export class LocalRunner implements JobRunner {
  readonly kind = 'local' as const;
  private readonly stateDir: string;
  private readonly maxConcurrent: number;
  private readonly killWaitMs: number;
  private passes: Promise<void> = Promise.resolve();

  constructor(options: LocalRunnerOptions) {
    this.stateDir = options.stateDir;
    this.maxConcurrent = Math.max(1, options.maxConcurrent ?? availableParallelism());
    this.killWaitMs = options.killWaitMs ?? 5_000;
  }

  async submit(spec: JobSpec): Promise<JobRef> {
    checkJobSpec(spec);
    const jobDir = this.jobDir(spec.name);
    await mkdir(this.stateDir, { recursive: true });
    try {
      await mkdir(jobDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // A folder without a record is a submit that crashed half-way: take it over.
      if ((await readText(join(jobDir, 'job.json'))) !== null) {
        throw new JobRunnerError('DUPLICATE_JOB', `a local job named ${spec.name} was submitted before: use findByName`, {
          jobName: spec.name,
        });
      }
    }
    await prepareJobFiles(spec);
    const record: JobRecord = { spec, submittedAt: Date.now() };
    await writeFileAtomic(join(jobDir, 'job.json'), JSON.stringify(record));
    await this.schedule();
    return { jobId: spec.name, exitMarkerPath: spec.exitMarkerPath };
  }

  async poll(ref: JobRef): Promise<JobStatus> {
    const record = await this.record(ref.jobId);
    if (!record) throw this.unknown(ref.jobId);
    await this.schedule();
    return this.statusOf(ref.jobId, record.spec.exitMarkerPath);
  }

  async cancel(ref: JobRef, options: CancelOptions = {}): Promise<void> {
    const record = await this.record(ref.jobId);
    if (!record) throw this.unknown(ref.jobId);
    const markerPath = record.spec.exitMarkerPath;
    // A job that has ended keeps its result: a note now would relabel a failure as a timeout.
    if (isTerminal((await this.statusOf(ref.jobId, markerPath)).state)) return;
    await writeCancelNote(markerPath, options.reason ?? 'requested');
    if (this.claim(ref.jobId, 'cancel')) return; // never started, and now never will
    const leader = await this.leaderOf(ref.jobId);
    if (!leader) return;
    signalGroup(leader, 'SIGTERM');
    await this.waitUntilGone(leader, this.killWaitMs);
    // Also for a group whose leader obeyed: its children may not have.
    signalGroup(leader, 'SIGKILL');
    await this.waitUntilGone(leader, 2_000);
  }

  async findByName(lookup: JobLookup): Promise<JobRef | null> {
    const record = isJobName(lookup.name) ? await this.record(lookup.name) : null;
    return record ? { jobId: lookup.name, exitMarkerPath: record.spec.exitMarkerPath } : null;
  }

  private async statusOf(jobId: string, markerPath: string): Promise<JobStatus> {
    const note = await readCancelNote(markerPath);
    const marker = await this.markerOf(jobId, markerPath);
    if (marker) return statusFromMarker(marker, note);
    const claim = await this.readClaim(jobId);
    if (claim !== 'start') {
      if (note) return cancelledStatus(note, null);
      return claim === 'cancel'
        ? { state: 'cancelled', exitCode: null, reason: 'cancelled before it started' }
        : { state: 'pending', reason: `waiting for one of ${this.maxConcurrent} slots` };
    }
    const startError = await readText(join(this.jobDir(jobId), 'start-error'));
    if (startError !== null) {
      return { state: 'failed', exitCode: null, failure: 'infrastructure', reason: `the job could not be started: ${startError}` };
    }
    const leader = await this.leaderOf(jobId);
    if (leader && liveness(leader) === 'alive') return { state: 'running' };
    // It may have written its marker between the first look and now.
    const late = await this.markerOf(jobId, markerPath);
    if (late) return statusFromMarker(late, note);
    if (note) return cancelledStatus(note, null);
    return {
      state: 'failed',
      exitCode: null,
      failure: 'lost',
      reason: 'the job ended without writing its exit marker: killed with SIGKILL, or the machine restarted',
    };
  }

  /**
   * Jobs that ended (or were cancelled before they started): they never take a slot again, so a
   * pass (at every submit and poll) skips them instead of reading their files every time.
   */
  private readonly settled = new Set<string>();

  // One pass at a time per runner, so that two passes of one runner never both see a free slot.
  private schedule(): Promise<void> {
    const pass = this.passes.then(() => this.startWaitingJobs());
    this.passes = pass.catch(() => undefined);
    return pass;
  }

  private async startWaitingJobs(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.stateDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    let running = 0;
    const waiting: JobRecord[] = [];
    for (const name of names) {
      if (!isJobName(name) || this.settled.has(name)) continue;
      const claim = await this.readClaim(name);
      if (claim === 'start') {
        const leader = await this.leaderOf(name);
        if (leader && liveness(leader) === 'alive') running++;
        else if (leader) this.settled.add(name);
      } else if (claim === 'cancel') {
        this.settled.add(name);
      } else if (claim === null) {
        const record = await this.record(name);
        if (record) waiting.push(record);
      }
    }
    waiting.sort((a, b) => a.submittedAt - b.submittedAt || a.spec.name.localeCompare(b.spec.name));
    for (const record of waiting) {
      if (running >= this.maxConcurrent) break;
      if (this.start(record.spec)) running++;
    }
  }

  private start(spec: JobSpec): boolean {
    if (!this.claim(spec.name, 'start')) return false;
    const jobDir = this.jobDir(spec.name);
    const script = join(jobDir, 'job.sh');
    let out: number | undefined;
    let err: number | undefined;
    try {
      writeFileSync(script, wrapperScript(spec, shellQuote(spec.name)));
      out = openSync(spec.stdoutPath, 'w');
      err = openSync(spec.stderrPath, 'w');
      // detached: its own session and process group, so it survives us and cancel reaches its children.
      const child = spawn('/bin/bash', [script], { cwd: spec.workDir, detached: true, stdio: ['ignore', out, err] });
      child.once('error', (e) => {
        try {
          writeFileSync(join(jobDir, 'start-error'), e.message);
        } catch {
          // the job folder is gone: nobody will ask
        }
      });
      if (child.pid === undefined) return true; // 'error' follows and records why
      // Written synchronously right after the fork: there is no moment at which another pass
      // sees the claim without the process.
      const identity: ProcessIdentity = identify(child.pid) ?? { pid: child.pid, startTicks: -1 };
      writeFileSync(join(jobDir, 'process.json'), JSON.stringify(identity));
      child.once('exit', () => {
        this.schedule().catch(() => undefined); // a failing pass is retried by the next poll, which reports it
      });
      child.unref();
    } catch (e) {
      writeFileSync(join(jobDir, 'start-error'), (e as Error).message);
    } finally {
      if (out !== undefined) closeSync(out);
      if (err !== undefined) closeSync(err);
    }
    return true;
  }

  // The claim file is created exclusively: of a start and a cancel, or of two runners, one wins.
  private claim(jobId: string, claim: Claim): boolean {
    try {
      writeFileSync(join(this.jobDir(jobId), 'claim'), claim, { flag: 'wx' });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
  }

  private async readClaim(jobId: string): Promise<Claim | null> {
    const text = await readText(join(this.jobDir(jobId), 'claim'));
    return text === 'start' || text === 'cancel' ? text : null;
  }

  private async leaderOf(jobId: string): Promise<ProcessIdentity | null> {
    const text = await readText(join(this.jobDir(jobId), 'process.json'));
    if (text === null) return null;
    const value = JSON.parse(text) as ProcessIdentity;
    return Number.isInteger(value.pid) && value.pid > 0 ? value : null;
  }

  private async record(jobId: string): Promise<JobRecord | null> {
    if (!isJobName(jobId)) return null;
    const text = await readText(join(this.jobDir(jobId), 'job.json'));
    return text === null ? null : (JSON.parse(text) as JobRecord);
  }

  private async markerOf(jobId: string, markerPath: string): Promise<ExitMarker | null> {
    const marker = await readExitMarker(markerPath);
    return marker && marker.jobId === jobId ? marker : null;
  }

  private async waitUntilGone(leader: ProcessIdentity, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (liveness(leader) === 'alive' && Date.now() < deadline) await sleep(25);
  }

  private jobDir(jobId: string): string {
    return join(this.stateDir, jobId);
  }

  private unknown(jobId: string): JobRunnerError {
    return new JobRunnerError('UNKNOWN_JOB', `no local job ${JSON.stringify(jobId)} in ${this.stateDir}`, { jobId });
  }
}
