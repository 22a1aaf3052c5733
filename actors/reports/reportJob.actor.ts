import { z } from 'zod';
import { command, type ActorDefinition, type EffectRequest } from '../runtime/actorDefinition.js';
import { cancelReasons, finalJobStates, reportJobEventSchemas } from './reportJob.events.js';
import {
  buildParams,
  cancelParams,
  collectParams,
  pollParams,
  publishParams,
  reportJobMachine, reportJobEffectActions,
  submitParams,
  type ReportJobContext,
} from './reportJob.machine.js';

/**
 * The summary stored with every event: the `{id, state, jobs[], artifacts[], error?}` of docs/api.md less
 * the artifact list, which is in `details` (live replies only): a report's plots run to hundreds
 * of files, and the summary is repeated in every poll's event. Each job is a small row.
 */
const summaryOf = (c: ReportJobContext): Record<string, unknown> => {
  const count = (state: string) => c.jobs.filter((j) => j.state === state).length;
  return {
    mode: c.request?.mode ?? null,
    runner: c.request?.runner ?? null,
    title: c.request?.title ?? null,
    instruments: c.request?.instruments ?? [],
    jobs: c.jobs.map((j) => ({
      key: j.key,
      state: j.state,
      runnerJobId: j.runnerJobId,
      exitCode: j.exitCode,
      ...(j.reason ? { reason: j.reason } : {}),
      artifacts: j.artifacts.length,
    })),
    progress: {
      jobs: c.jobs.length,
      finished: c.jobs.filter((j) => finalJobStates.has(j.state)).length,
      completed: count('completed'),
      failed: count('failed'),
      timedOut: count('timed_out'),
      cancelled: count('cancelled'),
      pollRound: c.pollRound,
      nextPollAt: c.deadlines.poll?.at ?? null,
      lastPollError: c.lastPollError,
    },
    artifactCount: c.jobs.reduce((n, j) => n + j.artifacts.length, 0),
    report: c.report ? { dir: c.report.dir, index: c.report.index, files: c.report.files.length } : null,
    published: c.published,
    scheduleId: c.request?.scheduleId ?? null,
    createdAt: c.createdAt,
    finishedAt: c.finishedAt,
    ...(c.error ? { error: c.error } : {}),
  };
};

/** Live replies: every artifact (plots by job, then the report's files) and the resolved jobs. */
const detailsOf = (c: ReportJobContext): Record<string, unknown> => ({
  artifacts: [
    ...c.jobs.flatMap((j) => j.artifacts.map((a) => ({ jobKey: j.key, path: a.path, bytes: a.bytes }))),
    ...(c.report?.files ?? []).map((a) => ({ jobKey: null, path: a.path, bytes: a.bytes })),
  ],
  jobSpecs: c.request?.jobs ?? [],
});

/** Effects a rebuilt report waits on (see the machine: params are computed the same way). */
const recoverEffects = (state: string, c: ReportJobContext): EffectRequest[] => {
  const cancels = (): EffectRequest[] =>
    cancelReasons.flatMap((why) => {
      const params = cancelParams(c, why);
      return params ? [{ type: 'cancelJobs', params }] : [];
    });
  switch (state) {
    case 'submitting':
      // Jobs without a runner id may have been submitted before the crash: the runner looks
      // them up by name before it submits (findExisting), so no job is submitted twice.
      return [
        ...c.jobs.filter((j) => j.state === 'pending' && j.cancel === null).map((j) => ({ type: 'submitJob', params: submitParams(c, j.key, true) })),
        ...cancels(),
      ];
    case 'running': {
      // Poll at once: jobs that ended while daqflow was down are seen now, not an interval later.
      const poll = pollParams(c);
      return [...(poll.jobs.length > 0 ? [{ type: 'pollJobs', params: poll }] : []), ...cancels()];
    }
    case 'cancelling':
      return cancels();
    case 'collecting':
      return [{ type: 'collectArtifacts', params: collectParams(c) }];
    case 'building':
      return [{ type: 'buildReport', params: buildParams(c) }];
    case 'publishing':
      return [{ type: 'publish', params: publishParams(c) }];
    default:
      return [];
  }
};

/**
 * The report-job actor (effects in adapters/jobs/reports/reportEffects.ts). Its
 * creating command takes the request resolved by the adapters with `resolveReportRequest`
 * (configuration read and validated, override merged, instruments selected, dates made
 * instants, folders checked inside the data root).
 */
export const reportJobActor: ActorDefinition<typeof reportJobMachine, typeof reportJobEffectActions> = {
  kind: 'report',
  machine: reportJobMachine,
  effects: reportJobEffectActions,
  eventSchemas: reportJobEventSchemas,
  commands: {
    start: command({
      creates: true,
      schema: reportJobEventSchemas.requested.schema
        .strict()
        .refine((r) => new Set(r.jobs.map((j) => j.key)).size === r.jobs.length, { message: 'job keys must be unique', path: ['jobs'] })
        .refine((r) => (r.mode === 'sim') === (r.outDir === null), { message: 'outDir is null in sim mode only', path: ['outDir'] })
        .refine((r) => r.mode !== 'prod' || r.publish !== null, { message: 'prod mode needs a publish target', path: ['publish'] }),
      toEvent: (p) => ({ type: 'requested', data: p }),
    }),
    cancel: command({
      schema: z.strictObject({ reason: z.string().max(1_000).default('') }),
      toEvent: (p) => ({ type: 'cancelRequested', data: { reason: p.reason } }),
    }),
  },
  summary: (snapshot) => summaryOf(snapshot.context),
  details: (snapshot) => detailsOf(snapshot.context),
  recover: (snapshot) => recoverEffects(String(snapshot.value), snapshot.context),
};
