import { z } from 'zod';
import type { EventSchema } from '../../events/eventSchemas.js';
import { plotFormats, plotStatistics, reportRunners } from './reportConfig.js';
import { effectFailedSchema } from '../runtime/effectFailed.js';

/** As in European XFEL's report service: `sim` keeps everything in the work folder, `local` writes the out folder, `prod` also pushes to git. */
export const reportModes = ['sim', 'local', 'prod'] as const;
export type ReportMode = (typeof reportModes)[number];

/**
 * A job's state in the report: `pending` until the runner has it, `queued` while it waits there
 * (Slurm PENDING, or the local runner's concurrency limit), then `running`, then one of the
 * final four (docs/formats.md says how Slurm's states map onto them).
 */
export const jobStates = ['pending', 'queued', 'running', 'completed', 'failed', 'timed_out', 'cancelled'] as const;
export type JobState = (typeof jobStates)[number];
export const finalJobStates: ReadonlySet<JobState> = new Set(['completed', 'failed', 'timed_out', 'cancelled']);

/** What a poll may report: every state but `pending`, which only daqflow knows. */
export const runnerJobStates = ['queued', 'running', 'completed', 'failed', 'timed_out', 'cancelled'] as const;
export type RunnerJobState = (typeof runnerJobStates)[number];

/** Why daqflow cancels jobs: a job's own timeout, a cancel request, or a failure of the report. */
export const cancelReasons = ['timeout', 'cancel', 'failure'] as const;
export type CancelReason = (typeof cancelReasons)[number];

const isoTime = z.iso.datetime({ offset: true });
const jobKey = z.string().min(1).max(130);
const absolutePath = z.string().min(1).max(4_096).startsWith('/');

export const plotOptionsSchema = z.object({
  formats: z.array(z.enum(plotFormats)).min(1),
  statistics: z.array(z.enum(plotStatistics)).min(1),
  interval: z.boolean(),
  width: z.number().int(),
  height: z.number().int(),
  logScale: z.boolean(),
});

/** One job of a report, resolved: concrete dates, effective plot options. */
export const reportJobSpecSchema = z.object({
  /** `<instrument>.<detector>`: unique in the report, part of the runner's job name. */
  key: jobKey,
  instrument: z.string().min(1),
  detector: z.string().min(1),
  title: z.string(),
  parameters: z.array(z.string().min(1)).min(1),
  from: isoTime,
  to: isoTime,
  plot: plotOptionsSchema,
  /** The detector's own command, when it has one (else daqflow's trend plots). */
  command: z.array(z.string()).optional(),
});
export type ReportJobSpec = z.infer<typeof reportJobSpecSchema>;

export const slurmJobOptionsSchema = z.object({
  partition: z.string().optional(),
  account: z.string().optional(),
  time: z.string().optional(),
  mem: z.string().optional(),
});

/** A file a job or the report build produced. */
export const artifactSchema = z.object({ path: absolutePath, bytes: z.number().int().min(0) });
export type Artifact = z.infer<typeof artifactSchema>;

export const reportJobEventSchemas = {
  /**
   * The report was asked for, with everything resolved (see `reportRequest.ts`): the effective
   * configuration (override merged, instruments selected, defaults filled) for the record, and
   * the jobs it fans out to with concrete dates, so a replay needs neither the clock nor the file.
   */
  requested: {
    version: 1,
    schema: z.object({
      mode: z.enum(reportModes),
      runner: z.enum(reportRunners),
      /** The `instrument` or `instrument.detector` entries chosen. */
      instruments: z.array(z.string().min(1)).min(1),
      title: z.string(),
      jobs: z.array(reportJobSpecSchema).min(1),
      /** Absolute: the jobs' and the draft report's folders are below `<workDir>/<report id>/`. */
      workDir: absolutePath,
      /** Absolute: where `local` and `prod` publish; null in `sim`, whose report stays in the work folder. */
      outDir: absolutePath.nullable(),
      /** `prod` only. */
      publish: z.object({ gitUrl: z.string().min(1), branch: z.string().min(1), subFolder: z.string().min(1) }).nullable(),
      jobUpdateIntervalSeconds: z.number().int().min(1),
      jobTimeoutSeconds: z.number().int().min(1),
      slurm: slurmJobOptionsSchema.nullable(),
      timeZone: z.string().min(1),
      /** The configuration as validated, for the record; the jobs above are what runs. */
      config: z.record(z.string(), z.unknown()),
      configPath: z.string().nullable(),
      scheduleId: z.string().nullable(),
    }),
  },
  /**
   * The runner has the job under `runnerJobId` (a Slurm job id, a local process key). `found`:
   * it was found by its name after a restart, submitted before the crash.
   */
  jobSubmitted: {
    version: 1,
    schema: z.object({ jobKey, runnerJobId: z.string().min(1).max(256), found: z.boolean() }),
  },
  /** The runner refused the job (sbatch failed, bad partition…): the job fails, the others go on. */
  jobSubmitFailed: { version: 1, schema: z.object({ jobKey, reason: z.string(), message: z.string() }) },
  /** The update interval passed: poll the runner (deadline `poll`). */
  pollDue: { version: 1, schema: z.object({ round: z.number().int().min(1) }) },
  /** A poll saw a job change state; recorded only on a change. */
  jobStatus: {
    version: 1,
    schema: z.object({
      jobKey,
      state: z.enum(runnerJobStates),
      exitCode: z.number().int().nullable().optional(),
      /** Why it ended so, in words: `NonZeroExitCode`, `OUT_OF_MEMORY`, `lost after restart`… */
      reason: z.string().max(2_000).nullable().optional(),
      /** The runner's own state word (`PENDING`, `NODE_FAIL`…), for the record. */
      runnerState: z.string().max(64).nullable().optional(),
    }),
  },
  /** The job timeout passed before the job ended (deadline `timeout.<jobKey>`): daqflow cancels it. */
  jobTimedOut: { version: 1, schema: z.object({ jobKey }) },
  /** The runner was told to cancel these jobs; `outcome` per job as the runner saw it. */
  jobsCancelled: {
    version: 1,
    schema: z.object({
      why: z.enum(cancelReasons),
      jobs: z.array(
        z.object({
          jobKey,
          runnerJobId: z.string().nullable(),
          /** `cancelled`; `finished` when it had ended already; `not_found` when the runner never had it. */
          outcome: z.enum(['cancelled', 'finished', 'not_found']),
          exitCode: z.number().int().nullable().optional(),
        }),
      ),
    }),
  },
  /** The plots (and whatever else) each completed job left in its work folder. */
  artifactsCollected: {
    version: 1,
    schema: z.object({ jobs: z.array(z.object({ jobKey, files: z.array(artifactSchema) })) }),
  },
  /** The report (HTML index, a page per instrument, the plots) is complete in `dir` (the work folder's draft). */
  reportBuilt: { version: 1, schema: z.object({ dir: absolutePath, index: absolutePath, files: z.array(artifactSchema) }) },
  /** The report is in the out folder at `dir`; `commit` is the pushed commit in `prod`. */
  published: { version: 1, schema: z.object({ dir: absolutePath, commit: z.string().nullable() }) },
  cancelRequested: { version: 1, schema: z.object({ reason: z.string() }) },
  /** A step failed for a reason of the world (no plot could be drawn, the push was rejected). */
  failed: { version: 1, schema: z.object({ stage: z.enum(['collect', 'build', 'publish']), reason: z.string() }) },
  /** An effect threw (a bug, the file system): the report fails, its jobs are cancelled. */
  effectFailed: { version: 1, schema: effectFailedSchema },
} as const satisfies Record<string, EventSchema>;
// No defaults in these schemas: a live transition folds the data as the effect gave it, a replay
// as it was stored; a default filled in on write would make the two differ.

type DataOf<K extends keyof typeof reportJobEventSchemas> = z.infer<(typeof reportJobEventSchemas)[K]['schema']>;

export type ReportRequested = DataOf<'requested'>;
export type JobSubmitted = DataOf<'jobSubmitted'>;
export type JobStatus = DataOf<'jobStatus'>;
export type JobsCancelled = DataOf<'jobsCancelled'>;
export type ArtifactsCollected = DataOf<'artifactsCollected'>;
export type ReportBuilt = DataOf<'reportBuilt'>;

/** Machine events of the report-job actor: `{ type, data, time }` for each stored event type. */
export type ReportJobEvent = {
  [K in keyof typeof reportJobEventSchemas]: { type: K; data: DataOf<K>; time: string };
}[keyof typeof reportJobEventSchemas];
