import { and, assign, enqueueActions, setup } from 'xstate';
import { effect, type Deadline } from '../runtime/actorDefinition.js';
import {
  jobWorkDirOf,
  publishedDirOf,
  reportDraftDirOf,
  runnerJobNameOf,
  type BuildReportParams,
  type CancelJobsParams,
  type CollectArtifactsParams,
  type PollJobsParams,
  type PublishParams,
  type SubmitJobParams,
} from './reportJob.effects.js';
import {
  finalJobStates,
  type Artifact,
  type CancelReason,
  type JobsCancelled,
  type JobState,
  type ReportJobEvent,
  type ReportJobSpec,
  type ReportRequested,
} from './reportJob.events.js';

/** One job of the report as the actor knows it. */
export interface ReportJobRecord {
  readonly key: string;
  readonly instrument: string;
  readonly detector: string;
  readonly state: JobState;
  readonly runnerJobId: string | null;
  readonly exitCode: number | null;
  readonly reason: string | null;
  readonly runnerState: string | null;
  readonly submittedAt: string | null;
  readonly finishedAt: string | null;
  /** A cancel sent to the runner and not yet confirmed, and why: the report waits for it. */
  readonly cancel: CancelReason | null;
  readonly artifacts: readonly Artifact[];
}

export interface ReportJobContext {
  readonly id: string;
  readonly request: ReportRequested | null;
  readonly jobs: readonly ReportJobRecord[];
  /** Polls asked for so far. */
  readonly pollRound: number;
  readonly lastPollError: string | null;
  /** Why the report is cancelling its jobs: a cancel request, or a failure. */
  readonly stop: { readonly why: 'cancel' | 'failure'; readonly reason: string } | null;
  readonly report: { readonly dir: string; readonly index: string; readonly files: readonly Artifact[] } | null;
  readonly published: { readonly dir: string; readonly commit: string | null } | null;
  readonly createdAt: string | null;
  readonly finishedAt: string | null;
  readonly error: string | null;
  readonly deadlines: Readonly<Record<string, Deadline>>;
}

type Ctx = ReportJobContext;
type Ev = ReportJobEvent;
type EventOf<T extends Ev['type']> = Extract<Ev, { type: T }>;

const isFinalJob = (job: ReportJobRecord): boolean => finalJobStates.has(job.state);
const plusSeconds = (time: string, seconds: number): string => new Date(Date.parse(time) + seconds * 1_000).toISOString();
const timeoutDeadline = (jobKey: string): string => `timeout.${jobKey}`;

const withoutDeadline = (deadlines: Readonly<Record<string, Deadline>>, name: string): Record<string, Deadline> => {
  const rest = { ...deadlines };
  delete rest[name];
  return rest;
};

const jobOf = (c: Ctx, key: string): ReportJobRecord | undefined => c.jobs.find((j) => j.key === key);

const updateJobs = (c: Ctx, keys: ReadonlySet<string>, change: (job: ReportJobRecord) => ReportJobRecord): ReportJobRecord[] =>
  c.jobs.map((j) => (keys.has(j.key) ? change(j) : j));

const specOf = (c: Ctx, key: string): ReportJobSpec => {
  const spec = c.request?.jobs.find((j) => j.key === key);
  if (!spec) throw new Error(`report ${c.id} has no job ${key}`);
  return spec;
};

const requestOf = (c: Ctx): ReportRequested => {
  if (!c.request) throw new Error(`report ${c.id} has no request`);
  return c.request;
};

/** Every job ended and no cancel is outstanding: the jobs phase is over. */
const jobsSettled = (c: Ctx): boolean => c.jobs.every((j) => isFinalJob(j) && j.cancel === null);

/** Text of the jobs that did not complete, for the report's error. */
const failuresText = (c: Ctx): string =>
  c.jobs
    .filter((j) => j.state !== 'completed')
    .map((j) => {
      const how =
        j.state === 'timed_out'
          ? `timed out after ${c.request?.jobTimeoutSeconds ?? '?'} s`
          : j.state === 'failed'
            ? `failed${j.exitCode !== null ? ` (exit ${j.exitCode})` : ''}`
            : j.state;
      return `${j.key} ${how}${j.reason ? `: ${j.reason}` : ''}`;
    })
    .join('; ');

// ---------------------------------------------------------------- effect params (also what recover() re-issues)

export const submitParams = (c: Ctx, key: string, findExisting: boolean): SubmitJobParams => {
  const r = requestOf(c);
  return {
    reportId: c.id,
    jobKey: key,
    jobName: runnerJobNameOf(c.id, key),
    runner: r.runner,
    findExisting,
    workDir: jobWorkDirOf(r.workDir, c.id, key),
    job: specOf(c, key),
    slurm: r.slurm,
    timeoutSeconds: r.jobTimeoutSeconds,
  };
};

const refOf = (c: Ctx, job: ReportJobRecord) => ({
  jobKey: job.key,
  jobName: runnerJobNameOf(c.id, job.key),
  runnerJobId: job.runnerJobId,
  workDir: jobWorkDirOf(requestOf(c).workDir, c.id, job.key),
});

export const pollParams = (c: Ctx): PollJobsParams => ({
  reportId: c.id,
  runner: requestOf(c).runner,
  round: c.pollRound,
  jobs: c.jobs
    .filter((j) => !isFinalJob(j) && j.runnerJobId !== null)
    .map((j) => ({ ...refOf(c, j), runnerJobId: j.runnerJobId, state: j.state })),
});

/** Cancels of the jobs flagged with `why`, or null when there are none. */
export const cancelParams = (c: Ctx, why: CancelReason, keys?: ReadonlySet<string>): CancelJobsParams | null => {
  const jobs = c.jobs.filter((j) => j.cancel === why && (keys === undefined || keys.has(j.key))).map((j) => refOf(c, j));
  return jobs.length === 0 ? null : { reportId: c.id, runner: requestOf(c).runner, why, jobs };
};

export const collectParams = (c: Ctx): CollectArtifactsParams => ({
  reportId: c.id,
  jobs: c.jobs
    .filter((j) => j.state === 'completed')
    .map((j) => ({ jobKey: j.key, workDir: jobWorkDirOf(requestOf(c).workDir, c.id, j.key), job: specOf(c, j.key) })),
});

export const buildParams = (c: Ctx): BuildReportParams => {
  const r = requestOf(c);
  return {
    reportId: c.id,
    mode: r.mode,
    title: r.title,
    createdAt: c.createdAt ?? '',
    draftDir: reportDraftDirOf(r.workDir, c.id),
    jobs: c.jobs.map((j) => ({
      jobKey: j.key,
      job: specOf(c, j.key),
      state: j.state,
      exitCode: j.exitCode,
      reason: j.reason,
      artifacts: j.artifacts,
    })),
  };
};

export const publishParams = (c: Ctx): PublishParams => {
  const r = requestOf(c);
  if (r.mode === 'sim' || r.outDir === null) throw new Error(`report ${c.id}: ${r.mode} mode does not publish`);
  return {
    reportId: c.id,
    mode: r.mode,
    title: r.title,
    draftDir: reportDraftDirOf(r.workDir, c.id),
    targetDir: publishedDirOf(r.outDir, c.id),
    files: c.report?.files ?? [],
    git: r.mode === 'prod' ? r.publish : null,
  };
};

// ---------------------------------------------------------------- context changes

const onRequested = (event: EventOf<'requested'>): Partial<Ctx> => ({
  request: event.data,
  createdAt: event.time,
  jobs: event.data.jobs.map((spec) => ({
    key: spec.key,
    instrument: spec.instrument,
    detector: spec.detector,
    state: 'pending',
    runnerJobId: null,
    exitCode: null,
    reason: null,
    runnerState: null,
    submittedAt: null,
    finishedAt: null,
    cancel: null,
    artifacts: [],
  })),
});

const onSubmitted = (c: Ctx, event: EventOf<'jobSubmitted'>): Partial<Ctx> => ({
  jobs: updateJobs(c, new Set([event.data.jobKey]), (j) => ({
    ...j,
    state: 'queued',
    runnerJobId: event.data.runnerJobId,
    submittedAt: event.time,
  })),
  // The timeout counts from the submission: the runner's queue time is part of the wait.
  deadlines: {
    ...c.deadlines,
    [timeoutDeadline(event.data.jobKey)]: {
      at: plusSeconds(event.time, requestOf(c).jobTimeoutSeconds),
      event: { type: 'jobTimedOut', data: { jobKey: event.data.jobKey } },
    },
  },
});

const onSubmitFailed = (c: Ctx, event: EventOf<'jobSubmitFailed'>): Partial<Ctx> => ({
  jobs: updateJobs(c, new Set([event.data.jobKey]), (j) => ({
    ...j,
    state: 'failed',
    reason: `not submitted: ${event.data.reason}: ${event.data.message}`,
    finishedAt: event.time,
  })),
});

const onStatus = (c: Ctx, event: EventOf<'jobStatus'>): Partial<Ctx> => {
  const ends = finalJobStates.has(event.data.state);
  return {
    jobs: updateJobs(c, new Set([event.data.jobKey]), (j) => ({
      ...j,
      state: event.data.state,
      exitCode: event.data.exitCode ?? j.exitCode,
      reason: event.data.reason ?? j.reason,
      runnerState: event.data.runnerState ?? j.runnerState,
      finishedAt: ends ? event.time : null,
    })),
    deadlines: ends ? withoutDeadline(c.deadlines, timeoutDeadline(event.data.jobKey)) : c.deadlines,
  };
};

const onTimedOut = (c: Ctx, event: EventOf<'jobTimedOut'>): Partial<Ctx> => ({
  jobs: updateJobs(c, new Set([event.data.jobKey]), (j) => ({
    ...j,
    state: 'timed_out',
    reason: `exceeded the job timeout of ${requestOf(c).jobTimeoutSeconds} s`,
    finishedAt: event.time,
    cancel: 'timeout',
  })),
  deadlines: withoutDeadline(c.deadlines, timeoutDeadline(event.data.jobKey)),
});

/**
 * An outcome is about the job as the report knows it when it names the same runner job, or the
 * report knows none yet. A cancel by name that missed a submission landing just after it says
 * `not_found`; by then the job has its id and a cancel of its own on the way, which must decide.
 */
const outcomeMatches = (job: ReportJobRecord, outcome: JobsCancelled['jobs'][number]): boolean =>
  job.cancel !== null && (job.runnerJobId === null || outcome.runnerJobId === job.runnerJobId);

/** What a job became once the runner was told to cancel it. */
const afterCancel = (job: ReportJobRecord, outcome: JobsCancelled['jobs'][number], time: string): ReportJobRecord => {
  const exitCode = outcome.exitCode ?? job.exitCode;
  const runnerJobId = job.runnerJobId ?? outcome.runnerJobId;
  if (isFinalJob(job)) return { ...job, runnerJobId, cancel: null, exitCode };
  // A job that ended before the cancel reached it keeps its own result.
  const state: JobState = outcome.outcome !== 'finished' || exitCode === null ? 'cancelled' : exitCode === 0 ? 'completed' : 'failed';
  return { ...job, runnerJobId, state, exitCode, cancel: null, finishedAt: time };
};

const onCancelled = (c: Ctx, event: EventOf<'jobsCancelled'>): Partial<Ctx> => {
  const outcomes = new Map(event.data.jobs.map((o) => [o.jobKey, o]));
  return {
    jobs: c.jobs.map((j) => {
      const outcome = outcomes.get(j.key);
      return outcome && outcomeMatches(j, outcome) ? afterCancel(j, outcome, event.time) : j;
    }),
  };
};

/** Flags every unfinished job (and keeps the flags of cancels still outstanding) for a cancel with `why`. */
const stopping = (c: Ctx, why: 'cancel' | 'failure', reason: string): Partial<Ctx> => ({
  stop: { why, reason },
  jobs: c.jobs.map((j) => (!isFinalJob(j) || j.cancel !== null ? { ...j, cancel: why } : j)),
  deadlines: {},
});

const settle = (c: Ctx, time: string, error: string | null): Partial<Ctx> => ({ finishedAt: time, error, deadlines: {} });

// ---------------------------------------------------------------- guards

const acceptsSubmission = (c: Ctx, event: Ev): boolean =>
  (event.type === 'jobSubmitted' || event.type === 'jobSubmitFailed') && jobOf(c, event.data.jobKey)?.state === 'pending';

/** A state a poll saw that differs from the one recorded, for a job that is with the runner and not finished. */
const isStatusChange = (c: Ctx, event: Ev): boolean => {
  if (event.type !== 'jobStatus') return false;
  const job = jobOf(c, event.data.jobKey);
  return job !== undefined && job.state !== 'pending' && !isFinalJob(job) && job.state !== event.data.state;
};

const isDueTimeout = (c: Ctx, event: Ev): boolean =>
  event.type === 'jobTimedOut' && c.deadlines[timeoutDeadline(event.data.jobKey)] !== undefined;

const confirmsCancel = (c: Ctx, event: Ev): boolean =>
  event.type === 'jobsCancelled' &&
  event.data.jobs.some((o) => {
    const job = jobOf(c, o.jobKey);
    return job !== undefined && outcomeMatches(job, o);
  });

const isEffect = (event: Ev, effect: string): boolean => event.type === 'effectFailed' && event.data.effect === effect;

// Where these two are used the list is never empty (a cancel has something to cancel); the
// empty fallback only keeps the params total.
const cancelFlaggedParams = ({ context }: { context: Ctx }): CancelJobsParams =>
  cancelParams(context, context.stop?.why ?? 'cancel') ?? { reportId: context.id, runner: requestOf(context).runner, why: context.stop?.why ?? 'cancel', jobs: [] };

const cancelOneParams = ({ context, event }: { context: Ctx; event: Ev }): CancelJobsParams => {
  const key = event.type === 'jobTimedOut' || event.type === 'jobSubmitted' ? event.data.jobKey : '';
  const why = event.type === 'jobTimedOut' ? 'timeout' : (context.stop?.why ?? 'cancel');
  return cancelParams(context, why, new Set([key])) ?? { reportId: context.id, runner: requestOf(context).runner, why, jobs: [] };
};

/** How submitting and running end once every job has: collect what completed, or settle without. */
const settleWhenJobsEnd = [
  { guard: 'jobsSettledWithResults', target: 'collecting', actions: ['clearDeadlines', { type: 'collectArtifacts', params: ({ context }: { context: Ctx }) => collectParams(context) }] },
  { guard: 'jobsSettledAllTimedOut', target: 'timed_out', actions: 'settleTimedOut' },
  { guard: 'jobsSettled', target: 'failed', actions: 'settleNoResults' },
] as const;

/** What submitting and running both answer: a job's timeout, a cancel confirmed, a cancel asked for. */
const jobHandlers = {
  jobTimedOut: { guard: 'isDueTimeout', actions: ['recordTimeout', { type: 'cancelJobs', params: cancelOneParams }] },
  jobsCancelled: { guard: 'confirmsCancel', actions: 'recordCancelled' },
  cancelRequested: { target: 'cancelling', actions: ['stopForCancel', { type: 'cancelJobs', params: cancelFlaggedParams }] },
} as const;

/** The effects this machine requests, with their params; `adapters/jobs/reports/reportEffects.ts` implements them. */
export const reportJobEffectActions = {
  submitJob: effect<SubmitJobParams>(),
  pollJobs: effect<PollJobsParams>(),
  cancelJobs: effect<CancelJobsParams>(),
  collectArtifacts: effect<CollectArtifactsParams>(),
  buildReport: effect<BuildReportParams>(),
  publish: effect<PublishParams>(),
};

/**
 * A report job: one runner job per instrument/detector of the configuration, submitted by
 * `submitJob` (each under the deterministic name `daqflow-<report id>-<jobKey>`, so a restart
 * finds it instead of submitting it twice), polled by `pollJobs` at the update interval (the
 * `poll` deadline), each cancelled by daqflow when its timeout passes (`timeout.<jobKey>`).
 * When every job has ended, the report is built from the jobs that completed — the others are
 * listed in it with their reason — and the run ends `completed`; when none completed it ends
 * `timed_out` (all timed out) or `failed`. Then `collectArtifacts`, `buildReport` and, in `local`
 * and `prod`, `publish`.
 *
 * A cancel (or an effect that threw) while jobs may run goes through `cancelling`, which waits
 * for the runner to confirm (`jobsCancelled`), so that no job is left running after the report
 * says it ended; later, with no job running, a cancel ends the report at once.
 *
 * submitting -> running -> collecting -> building -> publishing -> completed
 *                     \-> timed_out | failed          (any unfinished) -> cancelling -> cancelled | failed
 */
export const reportJobMachine = setup({
  types: {
    context: {} as ReportJobContext,
    events: {} as ReportJobEvent,
    input: {} as { id: string },
  },
  actions: {
    // Implemented by the adapters; the machine only names them.
    ...reportJobEffectActions,

    recordSubmitted: assign(({ context, event }) => (event.type === 'jobSubmitted' ? onSubmitted(context, event) : {})),
    recordSubmitFailed: assign(({ context, event }) => (event.type === 'jobSubmitFailed' ? onSubmitFailed(context, event) : {})),
    recordStatus: assign(({ context, event }) => (event.type === 'jobStatus' ? onStatus(context, event) : {})),
    recordTimeout: assign(({ context, event }) => (event.type === 'jobTimedOut' ? onTimedOut(context, event) : {})),
    recordCancelled: assign(({ context, event }) => (event.type === 'jobsCancelled' ? onCancelled(context, event) : {})),
    // A submission that landed after the report began cancelling: flagged, to be cancelled too.
    recordLateSubmission: assign(({ context, event }) =>
      event.type === 'jobSubmitted'
        ? {
            jobs: updateJobs(context, new Set([event.data.jobKey]), (j) => ({
              ...j,
              state: j.state === 'pending' ? 'queued' : j.state,
              runnerJobId: event.data.runnerJobId,
              submittedAt: event.time,
              cancel: context.stop?.why ?? 'cancel',
            })),
          }
        : {},
    ),
    armFirstPoll: assign(({ context, event }) => ({
      deadlines: {
        ...context.deadlines,
        poll: {
          at: plusSeconds(event.time, requestOf(context).jobUpdateIntervalSeconds),
          event: { type: 'pollDue', data: { round: context.pollRound + 1 } },
        },
      },
    })),
    // The next poll is armed when this one is asked for, whatever it answers: a poll that hangs
    // or fails does not stop the polling.
    recordPoll: assign(({ context, event }) => ({
      pollRound: context.pollRound + 1,
      deadlines: {
        ...context.deadlines,
        poll: {
          at: plusSeconds(event.time, requestOf(context).jobUpdateIntervalSeconds),
          event: { type: 'pollDue', data: { round: context.pollRound + 2 } },
        },
      },
    })),
    stopForCancel: assign(({ context, event }) =>
      event.type === 'cancelRequested' ? stopping(context, 'cancel', event.data.reason) : {},
    ),
    stopForFailure: assign(({ context, event }) =>
      event.type === 'effectFailed' ? stopping(context, 'failure', `${event.data.effect}: ${event.data.message}`) : {},
    ),
    recordPollFailure: assign(({ event }) => (event.type === 'effectFailed' ? { lastPollError: `${event.time}: ${event.data.message}` } : {})),
    recordCancelFailure: assign(({ context, event }) =>
      event.type === 'effectFailed'
        ? {
            jobs: context.jobs.map((j) =>
              j.cancel === null ? j : { ...j, cancel: null, reason: `${j.reason ?? ''}${j.reason ? '; ' : ''}cancel failed: ${event.data.message}` },
            ),
          }
        : {},
    ),
    recordArtifacts: assign(({ context, event }) => {
      if (event.type !== 'artifactsCollected') return {};
      const files = new Map(event.data.jobs.map((j) => [j.jobKey, j.files]));
      return { jobs: context.jobs.map((j) => ({ ...j, artifacts: files.get(j.key) ?? j.artifacts })) };
    }),
    recordReport: assign(({ event }) => (event.type === 'reportBuilt' ? { report: event.data } : {})),
    recordPublished: assign(({ event }) => (event.type === 'published' ? { published: event.data } : {})),
    clearDeadlines: assign({ deadlines: {} }),
    settleCompleted: assign(({ context, event }) => settle(context, event.time, null)),
    settleTimedOut: assign(({ context, event }) => settle(context, event.time, `every job timed out: ${failuresText(context)}`)),
    settleNoResults: assign(({ context, event }) => settle(context, event.time, `no job completed: ${failuresText(context)}`)),
    settleNoArtifacts: assign(({ context, event }) => settle(context, event.time, 'collect: the completed jobs left no artifacts')),
    settleStopped: assign(({ context, event }) => {
      const unconfirmed = context.jobs.filter((j) => j.reason?.includes('cancel failed')).map((j) => j.key);
      const note = unconfirmed.length ? `cancelling ${unconfirmed.join(', ')} failed: the runner may still run them` : '';
      return settle(context, event.time, [context.stop?.reason ?? '', note].filter(Boolean).join('; ') || null);
    }),
    settleEnd: assign(({ context, event }) => {
      if (event.type === 'cancelRequested') return settle(context, event.time, event.data.reason || null);
      if (event.type === 'failed') return settle(context, event.time, `${event.data.stage}: ${event.data.reason}`);
      if (event.type === 'effectFailed') return settle(context, event.time, `${event.data.effect}: ${event.data.message}`);
      return {};
    }),
  },
  guards: {
    acceptsSubmission: ({ context, event }) => acceptsSubmission(context, event),
    isStatusChange: ({ context, event }) => isStatusChange(context, event),
    isDueTimeout: ({ context, event }) => isDueTimeout(context, event),
    confirmsCancel: ({ context, event }) => confirmsCancel(context, event),
    isPollFailure: ({ event }) => isEffect(event, 'pollJobs'),
    isCancelFailure: ({ event }) => isEffect(event, 'cancelJobs'),
    isNextPoll: ({ context, event }) => event.type === 'pollDue' && event.data.round === context.pollRound + 1,
    isLateSubmission: ({ context, event }) => event.type === 'jobSubmitted' && jobOf(context, event.data.jobKey)?.runnerJobId === null,
    noJobPending: ({ context }) => context.jobs.every((j) => j.state !== 'pending'),
    jobsSettled: ({ context }) => jobsSettled(context),
    jobsSettledWithResults: ({ context }) => jobsSettled(context) && context.jobs.some((j) => j.state === 'completed'),
    jobsSettledAllTimedOut: ({ context }) => jobsSettled(context) && context.jobs.every((j) => j.state === 'timed_out'),
    noCancelOutstanding: ({ context }) => context.jobs.every((j) => j.cancel === null),
    stoppedForFailure: ({ context }) => context.stop?.why === 'failure',
    hasArtifacts: ({ event }) => event.type === 'artifactsCollected' && event.data.jobs.some((j) => j.files.length > 0),
    isSim: ({ context }) => context.request?.mode === 'sim',
  },
}).createMachine({
  id: 'reportJob',
  context: ({ input }) => ({
    id: input.id,
    request: null,
    jobs: [],
    pollRound: 0,
    lastPollError: null,
    stop: null,
    report: null,
    published: null,
    createdAt: null,
    finishedAt: null,
    error: null,
    deadlines: {},
  }),
  initial: 'idle',
  states: {
    idle: {
      on: {
        requested: {
          target: 'submitting',
          actions: [
            assign(({ event }) => onRequested(event)),
            enqueueActions(({ context, enqueue }) => {
              for (const job of context.jobs) enqueue({ type: 'submitJob', params: submitParams(context, job.key, false) });
            }),
          ],
        },
      },
    },
    // submitting and running share their handlers; submitting has jobs not yet with the runner
    // and no polling (a job submitted early is polled from the first interval after the last).
    submitting: {
      always: [
        ...settleWhenJobsEnd,
        { guard: 'noJobPending', target: 'running', actions: 'armFirstPoll' },
      ],
      on: {
        jobSubmitted: { guard: 'acceptsSubmission', actions: 'recordSubmitted' },
        jobSubmitFailed: { guard: 'acceptsSubmission', actions: 'recordSubmitFailed' },
        ...jobHandlers,
        effectFailed: [
          { guard: 'isCancelFailure', actions: 'recordCancelFailure' },
          { target: 'cancelling', actions: ['stopForFailure', { type: 'cancelJobs', params: cancelFlaggedParams }] },
        ],
      },
    },
    running: {
      always: [
        ...settleWhenJobsEnd,
      ],
      on: {
        pollDue: {
          guard: 'isNextPoll',
          actions: [
            'recordPoll',
            enqueueActions(({ context, enqueue }) => {
              const params = pollParams(context);
              if (params.jobs.length > 0) enqueue({ type: 'pollJobs', params });
            }),
          ],
        },
        jobStatus: { guard: 'isStatusChange', actions: 'recordStatus' },
        ...jobHandlers,
        effectFailed: [
          // A failed poll is not the jobs failing: the next interval polls again, the timeouts still hold.
          { guard: 'isPollFailure', actions: 'recordPollFailure' },
          // A cancel that did not get through (of a timed-out job): say so on the job and go on.
          { guard: 'isCancelFailure', actions: 'recordCancelFailure' },
          { target: 'cancelling', actions: ['stopForFailure', { type: 'cancelJobs', params: cancelFlaggedParams }] },
        ],
      },
    },
    cancelling: {
      always: [
        { guard: and(['noCancelOutstanding', 'stoppedForFailure']), target: 'failed', actions: 'settleStopped' },
        { guard: 'noCancelOutstanding', target: 'cancelled', actions: 'settleStopped' },
      ],
      on: {
        jobsCancelled: { guard: 'confirmsCancel', actions: 'recordCancelled' },
        // The truth about a job that ended while its cancel was on the way.
        jobStatus: { guard: 'isStatusChange', actions: 'recordStatus' },
        jobSubmitted: { guard: 'isLateSubmission', actions: ['recordLateSubmission', { type: 'cancelJobs', params: cancelOneParams }] },
        effectFailed: { guard: 'isCancelFailure', actions: 'recordCancelFailure' },
      },
    },
    collecting: {
      on: {
        artifactsCollected: [
          { guard: 'hasArtifacts', target: 'building', actions: ['recordArtifacts', { type: 'buildReport', params: ({ context }) => buildParams(context) }] },
          { target: 'failed', actions: ['recordArtifacts', 'settleNoArtifacts'] },
        ],
        failed: { target: 'failed', actions: 'settleEnd' },
        effectFailed: { target: 'failed', actions: 'settleEnd' },
        cancelRequested: { target: 'cancelled', actions: 'settleEnd' },
      },
    },
    building: {
      on: {
        reportBuilt: [
          { guard: 'isSim', target: 'completed', actions: ['recordReport', 'settleCompleted'] },
          { target: 'publishing', actions: ['recordReport', { type: 'publish', params: ({ context }) => publishParams(context) }] },
        ],
        failed: { target: 'failed', actions: 'settleEnd' },
        effectFailed: { target: 'failed', actions: 'settleEnd' },
        cancelRequested: { target: 'cancelled', actions: 'settleEnd' },
      },
    },
    publishing: {
      on: {
        published: { target: 'completed', actions: ['recordPublished', 'settleCompleted'] },
        failed: { target: 'failed', actions: 'settleEnd' },
        effectFailed: { target: 'failed', actions: 'settleEnd' },
        cancelRequested: { target: 'cancelled', actions: 'settleEnd' },
      },
    },
    completed: { type: 'final' },
    failed: { type: 'final' },
    cancelled: { type: 'final' },
    timed_out: { type: 'final' },
  },
});
