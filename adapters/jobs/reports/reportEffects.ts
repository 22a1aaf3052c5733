/**
 * The report job's effects (parameters in `actors/reports/reportJob.effects.ts`):
 *
 * - `submitJob` writes the job's input (its parameters' statistics from the statistics database)
 *   into its work folder and hands `daqflow report render-job` (or the detector's own command) to
 *   the runner; after a restart it first looks the job up by name, so a job is never submitted twice;
 * - `pollJobs` asks the runner about the unfinished jobs and reports only changes;
 * - `cancelJobs` cancels (a timeout, a cancel, a failure), by id or, never recorded, by name;
 * - `collectArtifacts` lists what each completed job wrote in its `out/` folder;
 * - `buildReport` copies the plots into the draft report and writes the HTML around them;
 * - `publish` moves the draft to the out folder and, in prod, commits and pushes it.
 *
 * Every one is idempotent: a restarted runtime re-issues the effect its actor waits on.
 */
import { cp, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import type { Kysely } from 'kysely';
import type {
  BuildReportParams,
  CancelJobsParams,
  CollectArtifactsParams,
  PollJobsParams,
  PublishParams,
  SubmitJobParams,
} from '../../../actors/reports/reportJob.effects.js';
import type { ReportJobSpec, RunnerJobState } from '../../../actors/reports/reportJob.events.js';
import { silentLogger, type EffectContext, type EffectHandlersFor, type Logger } from '../../../actors/runtime/index.js';
import type { Database } from '../../../projections/database.js';
import { messageOf } from '../../../events/errors.js';
import { exportParameterStatistics } from '../../../projections/grabStatistics.queries.js';
import { errnoOf } from '../../files/dataRootPaths.js';
import { publishToGit } from '../../report/gitPublisher.js';
import { plotBasePath, REPORT_INDEX } from '../../report/reportPaths.js';
import { isPartialFile } from '../../files/writeFileAtomic.js';
import { writeReportSite, type ReportGroup, type ReportInstrument } from '../../report/reportSite.js';
import { isJobRunnerError } from '../../runners/errors.js';
import { isTerminal, type JobRef, type JobRunner, type JobSpec, type JobStatus } from '../../runners/jobRunner.js';
import type { reportJobEffectActions } from '../../../actors/reports/reportJob.machine.js';

/** The handlers the machine's effect actions need (a missing or misspelled one does not compile). */
export type ReportEffects = EffectHandlersFor<typeof reportJobEffectActions>;

/** What a job's command needs: written to `<job folder>/job.json`, read by `daqflow report render-job`. */
export interface RenderJobInput {
  readonly reportId: string;
  readonly job: ReportJobSpec;
  /** One statistics export per parameter (the `daqflow stats export` document). */
  readonly statistics: ReadonlyArray<Awaited<ReturnType<typeof exportParameterStatistics>>>;
}

export interface ReportEffectsOptions {
  readonly db: Kysely<Database>;
  readonly runners: { readonly local: JobRunner; readonly slurm: JobRunner };
  /** argv of `daqflow report render-job` (the job file is appended): node, bin/daqflow.js, … */
  readonly renderCommand: readonly string[];
  readonly logger?: Logger;
  /** Author of report commits in prod mode. */
  readonly gitAuthor?: { readonly name: string; readonly email: string };
}

type Outcome = { type: string; data: Record<string, unknown> };

export const JOB_INPUT = 'job.json';
export const JOB_OUTPUT = 'out';

/** sbatch options of the configuration's `global.slurm`. */
const slurmArgsOf = (slurm: SubmitJobParams['slurm']): string[] =>
  slurm === null
    ? []
    : [
        ...(slurm.partition ? [`--partition=${slurm.partition}`] : []),
        ...(slurm.account ? [`--account=${slurm.account}`] : []),
        ...(slurm.time ? [`--time=${slurm.time}`] : []),
        ...(slurm.mem ? [`--mem=${slurm.mem}`] : []),
      ];


/** The runner's files of a job, all in its work folder. */
const jobFiles = (workDir: string) => ({
  exitMarkerPath: join(workDir, 'exit.json'),
  stdoutPath: join(workDir, 'job.out'),
  stderrPath: join(workDir, 'job.err'),
});

/** A runner's word for a job's state, in the report's words; null: nothing to say yet. */
const reportStateOf = (status: JobStatus): RunnerJobState | null => {
  switch (status.state) {
    case 'pending':
      return 'queued';
    case 'unknown':
      return null;
    default:
      return status.state;
  }
};

/** Files below `dir` (recursively), sorted; none when it does not exist. */
const listFiles = async (dir: string): Promise<Array<{ path: string; bytes: number }>> => {
  const out: Array<{ path: string; bytes: number }> = [];
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return;
      throw e;
    }
    for (const entry of entries) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) await walk(p);
      else if (entry.isFile() && !isPartialFile(entry.name)) out.push({ path: p, bytes: (await stat(p)).size });
    }
  };
  await walk(dir);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
};

export const createReportEffects = (options: ReportEffectsOptions): ReportEffects => {
  const logger = options.logger ?? silentLogger;
  const runnerOf = (kind: 'local' | 'slurm'): JobRunner => options.runners[kind];
  const author = options.gitAuthor ?? { name: 'daqflow', email: 'daqflow@localhost' };

  const submitJob = async (params: SubmitJobParams, context: EffectContext): Promise<Outcome> => {
    const runner = runnerOf(params.runner);
    const workDir = resolve(params.workDir);
    const files = jobFiles(workDir);
    try {
      if (params.findExisting) {
        const found = await runner.findByName({ name: params.jobName, exitMarkerPath: files.exitMarkerPath });
        if (found) return { type: 'jobSubmitted', data: { jobKey: params.jobKey, runnerJobId: found.jobId, found: true } };
      }
      await mkdir(join(workDir, JOB_OUTPUT), { recursive: true });
      const statistics = await Promise.all(
        params.job.parameters.map((p) => exportParameterStatistics(options.db, p, { from: params.job.from, to: params.job.to })),
      );
      const input: RenderJobInput = { reportId: params.reportId, job: params.job, statistics };
      await writeFile(join(workDir, JOB_INPUT), `${JSON.stringify(input)}\n`);
      const command = params.job.command ?? [...options.renderCommand, join(workDir, JOB_INPUT)];
      const spec: JobSpec = {
        name: params.jobName,
        command,
        workDir,
        env: { DAQFLOW_REPORT_JOB: join(workDir, JOB_INPUT), DAQFLOW_REPORT_OUT: join(workDir, JOB_OUTPUT) },
        // A safety net for jobs a dead daqflow can no longer time out: Slurm ends them a little later.
        // The configuration's own slurm.time, when given, is the user's word and wins.
        ...(params.slurm?.time ? {} : { timeLimitSeconds: params.timeoutSeconds + 60 }),
        slurmArgs: slurmArgsOf(params.slurm),
        ...files,
      };
      const ref = await runner.submit(spec);
      if (context.signal.aborted) {
        // The report ended while sbatch ran: nobody would ever cancel this job.
        await runner.cancel(ref).catch((e: unknown) => logger.warn({ err: e, job: params.jobName }, 'could not cancel a job submitted after its report ended'));
      }
      return { type: 'jobSubmitted', data: { jobKey: params.jobKey, runnerJobId: ref.jobId, found: false } };
    } catch (e) {
      const reason = isJobRunnerError(e) ? e.reason : 'SUBMIT_FAILED';
      return { type: 'jobSubmitFailed', data: { jobKey: params.jobKey, reason, message: messageOf(e) } };
    }
  };

  const pollJobs = async (params: PollJobsParams): Promise<Outcome[]> => {
    const runner = runnerOf(params.runner);
    const changes: Outcome[] = [];
    for (const job of params.jobs) {
      if (job.runnerJobId === null) continue;
      const ref: JobRef = { jobId: job.runnerJobId, exitMarkerPath: jobFiles(resolve(job.workDir)).exitMarkerPath };
      const status = await runner.poll(ref);
      const state = reportStateOf(status);
      if (state === null || state === job.state) continue;
      changes.push({
        type: 'jobStatus',
        data: {
          jobKey: job.jobKey,
          state,
          ...(status.exitCode !== undefined && status.exitCode !== null ? { exitCode: status.exitCode } : {}),
          ...(status.reason ? { reason: status.reason } : {}),
          ...(status.slurmState ? { runnerState: status.slurmState } : {}),
        },
      });
    }
    return changes;
  };

  const cancelJobs = async (params: CancelJobsParams): Promise<Outcome> => {
    const runner = runnerOf(params.runner);
    const outcomes = [];
    for (const job of params.jobs) {
      const files = jobFiles(resolve(job.workDir));
      const ref: JobRef | null = job.runnerJobId
        ? { jobId: job.runnerJobId, exitMarkerPath: files.exitMarkerPath }
        : await runner.findByName({ name: job.jobName, exitMarkerPath: files.exitMarkerPath });
      if (ref === null) {
        outcomes.push({ jobKey: job.jobKey, runnerJobId: null, outcome: 'not_found' });
        continue;
      }
      const before = await runner.poll(ref).catch(() => null);
      if (before && isTerminal(before.state)) {
        outcomes.push({ jobKey: job.jobKey, runnerJobId: ref.jobId, outcome: 'finished', ...(typeof before.exitCode === 'number' ? { exitCode: before.exitCode } : {}) });
        continue;
      }
      await runner.cancel(ref, { reason: params.why === 'timeout' ? 'timeout' : 'requested' });
      outcomes.push({ jobKey: job.jobKey, runnerJobId: ref.jobId, outcome: 'cancelled' });
    }
    return { type: 'jobsCancelled', data: { why: params.why, jobs: outcomes } };
  };

  const collectArtifacts = async (params: CollectArtifactsParams): Promise<Outcome> => {
    const jobs = [];
    for (const job of params.jobs) jobs.push({ jobKey: job.jobKey, files: await listFiles(join(resolve(job.workDir), JOB_OUTPUT)) });
    return { type: 'artifactsCollected', data: { jobs } };
  };

  const buildReport = async (params: BuildReportParams): Promise<Outcome> => {
    try {
      const draft = resolve(params.draftDir);
      await rm(draft, { recursive: true, force: true });
      await mkdir(draft, { recursive: true });
      const byInstrument = new Map<string, { from: string; to: string; groups: ReportGroup[] }>();
      const copied: Array<{ path: string; bytes: number }> = [];
      for (const job of params.jobs) {
        // A job's out folder mirrors the report's layout (see reportJob.effects.ts for the folders): copy it in as it is.
        const outRoot = join(dirname(draft), 'jobs', job.jobKey, JOB_OUTPUT);
        for (const artifact of job.artifacts) {
          const rel = relative(outRoot, artifact.path);
          if (rel.startsWith('..')) continue;
          await mkdir(dirname(join(draft, rel)), { recursive: true });
          await cp(artifact.path, join(draft, rel));
          copied.push({ path: join(draft, rel), bytes: artifact.bytes });
        }
        const entry = byInstrument.get(job.job.instrument) ?? { from: job.job.from, to: job.job.to, groups: [] };
        if (job.job.from < entry.from) entry.from = job.job.from;
        if (job.job.to > entry.to) entry.to = job.job.to;
        const note = job.state === 'completed' ? undefined : `job ${job.state}${job.exitCode !== null ? ` (exit ${job.exitCode})` : ''}${job.reason ? `: ${job.reason}` : ''}`;
        entry.groups.push({
          name: job.job.title,
          ...(note ? { note } : {}),
          plots: job.job.parameters.map((parameter) => {
            const base = plotBasePath(job.job.instrument, job.job.detector, parameter);
            return {
              parameter,
              ...(job.job.plot.formats.includes('png') ? { png: `${base}.png` } : {}),
              ...(job.job.plot.formats.includes('svg') ? { svg: `${base}.svg` } : {}),
              spec: `${base}.vl.json`,
            };
          }),
        });
        byInstrument.set(job.job.instrument, entry);
      }
      const instruments: ReportInstrument[] = [...byInstrument.entries()].map(([name, e]) => ({ name, from: e.from, to: e.to, groups: e.groups }));
      const pages = await writeReportSite(draft, { title: params.title, generatedAt: params.createdAt, instruments });
      const files = [...copied, ...pages.map((p) => ({ path: p.path, bytes: p.bytes }))].sort((a, b) => (a.path < b.path ? -1 : 1));
      return { type: 'reportBuilt', data: { dir: draft, index: join(draft, REPORT_INDEX), files } };
    } catch (e) {
      logger.error({ err: e }, 'report build failed');
      return { type: 'failed', data: { stage: 'build', reason: messageOf(e) } };
    }
  };

  const publish = async (params: PublishParams): Promise<Outcome> => {
    try {
      const target = resolve(params.targetDir);
      const complete = await stat(join(target, REPORT_INDEX)).then(
        () => true,
        () => false,
      );
      if (!complete) {
        // Beside the target, then one rename: a reader never sees half a report.
        const partial = `${target}.partial`;
        await rm(partial, { recursive: true, force: true });
        await mkdir(dirname(target), { recursive: true });
        await cp(resolve(params.draftDir), partial, { recursive: true });
        await rm(target, { recursive: true, force: true });
        await rename(partial, target);
      }
      let commit: string | null = null;
      if (params.mode === 'prod' && params.git) {
        const sub = [params.git.subFolder, params.reportId].filter((s) => s && s !== '.').join('/');
        const result = await publishToGit({
          remote: params.git.gitUrl,
          sourceDir: target,
          subdir: sub,
          branch: params.git.branch,
          message: `${params.title}: report ${params.reportId}`,
          author,
        });
        commit = result.commit;
      }
      return { type: 'published', data: { dir: target, commit } };
    } catch (e) {
      logger.error({ err: e }, 'report publish failed');
      return { type: 'failed', data: { stage: 'publish', reason: messageOf(e) } };
    }
  };

  return { submitJob, pollJobs, cancelJobs, collectArtifacts, buildReport, publish } satisfies ReportEffects;
};
