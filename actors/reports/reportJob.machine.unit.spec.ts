import { describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import { createPureTransitions } from '../runtime/pureTransition.js';
import { stateOf } from '../runtime/stateOf.js';
import { reportJobActor } from './reportJob.actor.js';
import type { CancelJobsParams, PollJobsParams, PublishParams, SubmitJobParams } from './reportJob.effects.js';
import type { ReportJobEvent, ReportJobSpec, ReportRequested } from './reportJob.events.js';
import { reportJobMachine, type ReportJobContext } from './reportJob.machine.js';

const spec = (key: string): ReportJobSpec => {
  const [instrument = '', detector = ''] = key.split('.');
  return {
    key,
    instrument,
    detector,
    title: `${instrument} ${detector}`,
    parameters: [`${key}:T`],
    from: '2026-03-11T00:00:00.000Z',
    to: '2026-04-10T00:00:00.000Z',
    plot: { formats: ['png', 'svg'], statistics: ['max', 'mean', 'std', 'min'], interval: false, width: 900, height: 300, logScale: false },
  };
};

const request = (over: Partial<ReportRequested> = {}): ReportRequested => ({
  mode: 'local',
  runner: 'slurm',
  instruments: ['SPB'],
  title: 'DC',
  jobs: [spec('SPB.AGIPD'), spec('SPB.JF4M')],
  workDir: '/data/drafts/reports',
  outDir: '/data/reports',
  publish: null,
  jobUpdateIntervalSeconds: 10,
  jobTimeoutSeconds: 600,
  slurm: { partition: 'debug' },
  timeZone: 'UTC',
  config: {},
  configPath: null,
  scheduleId: null,
  ...over,
});

type Action = { type: string; params?: unknown };
type Input = { [E in ReportJobEvent as E['type']]: { type: E['type']; data: E['data'] } }[ReportJobEvent['type']];

/**
 * Folds events through the machine's pure transitions as the runtime does, one second apart
 * unless a time is given; refuses an event the state does not accept, as replay would.
 */
const report = (req: ReportRequested = request()) => {
  const pure = createPureTransitions(reportJobMachine, { id: 'r1' });
  let [snapshot] = pure.initial();
  let clock = Date.parse('2026-04-10T07:59:59.000Z');
  const self = {
    steps: [] as Array<{ snapshot: AnyMachineSnapshot; actions: Action[] }>,
    get snapshot() {
      return snapshot;
    },
    get context() {
      return snapshot.context as ReportJobContext;
    },
    get state() {
      return stateOf(snapshot);
    },
    accepts(type: Input['type'], data: unknown): boolean {
      return snapshot.can({ type, data, time: new Date(clock).toISOString() } as never);
    },
    send(type: Input['type'], data: unknown, time?: string): Action[] {
      clock = time ? Date.parse(time) : clock + 1_000;
      const event = { type, data, time: new Date(clock).toISOString() } as never;
      if (!snapshot.can(event)) throw new Error(`${type} ${JSON.stringify(data)} not accepted in ${stateOf(snapshot)}`);
      const [next, actions] = pure.next(snapshot, event);
      snapshot = next;
      self.steps.push({ snapshot, actions });
      return actions;
    },
    /** Sends the event of a deadline at its time. */
    fire(name: string): Action[] {
      const deadline = self.context.deadlines[name];
      if (!deadline) throw new Error(`no deadline ${name} in ${JSON.stringify(Object.keys(self.context.deadlines))}`);
      return self.send(deadline.event.type as Input['type'], deadline.event.data, deadline.at);
    },
    job(key: string) {
      return self.context.jobs.find((j) => j.key === key);
    },
  };
  self.send('requested', req);
  return self;
};

const submitted = (r: ReturnType<typeof report>, ...keys: string[]) => {
  for (const key of keys) r.send('jobSubmitted', { jobKey: key, runnerJobId: `${100 + keys.indexOf(key)}`, found: false });
};
const status = (jobKey: string, state: string, exitCode?: number) => ({ jobKey, state, ...(exitCode === undefined ? {} : { exitCode }) });
const paramsOf = <T>(actions: Action[], type: string): T[] => actions.filter((a) => a.type === type).map((a) => a.params as T);
const files = (...paths: string[]) => paths.map((path) => ({ path, bytes: 10 }));

/** A report whose jobs all completed: in `collecting`. */
const allCompleted = (req?: ReportRequested) => {
  const r = report(req);
  const keys = r.context.jobs.map((j) => j.key);
  submitted(r, ...keys);
  r.fire('poll');
  for (const key of keys) r.send('jobStatus', status(key, 'completed', 0));
  return r;
};

describe('report-job machine', () => {
  it('runs the happy path: submit, poll, collect, build, publish', () => {
    const r = report();
    expect(r.state).toBe('submitting');
    expect(paramsOf<SubmitJobParams>(r.steps[0]!.actions, 'submitJob')).toEqual([
      {
        reportId: 'r1',
        jobKey: 'SPB.AGIPD',
        jobName: 'daqflow-r1-SPB.AGIPD',
        runner: 'slurm',
        findExisting: false,
        workDir: '/data/drafts/reports/r1/jobs/SPB.AGIPD',
        job: spec('SPB.AGIPD'),
        slurm: { partition: 'debug' },
        timeoutSeconds: 600,
      },
      expect.objectContaining({ jobKey: 'SPB.JF4M', jobName: 'daqflow-r1-SPB.JF4M' }),
    ]);

    r.send('jobSubmitted', { jobKey: 'SPB.AGIPD', runnerJobId: '100', found: false }, '2026-04-10T08:00:01.000Z');
    expect(r.state).toBe('submitting');
    expect(r.context.deadlines['timeout.SPB.AGIPD']).toEqual({ at: '2026-04-10T08:10:01.000Z', event: { type: 'jobTimedOut', data: { jobKey: 'SPB.AGIPD' } } });
    r.send('jobSubmitted', { jobKey: 'SPB.JF4M', runnerJobId: '101', found: false }, '2026-04-10T08:00:02.000Z');
    expect(r.state).toBe('running');
    expect(r.context.deadlines.poll).toEqual({ at: '2026-04-10T08:00:12.000Z', event: { type: 'pollDue', data: { round: 1 } } });

    const poll = paramsOf<PollJobsParams>(r.fire('poll'), 'pollJobs');
    expect(poll).toEqual([
      {
        reportId: 'r1',
        runner: 'slurm',
        round: 1,
        jobs: [
          { jobKey: 'SPB.AGIPD', jobName: 'daqflow-r1-SPB.AGIPD', runnerJobId: '100', workDir: '/data/drafts/reports/r1/jobs/SPB.AGIPD', state: 'queued' },
          { jobKey: 'SPB.JF4M', jobName: 'daqflow-r1-SPB.JF4M', runnerJobId: '101', workDir: '/data/drafts/reports/r1/jobs/SPB.JF4M', state: 'queued' },
        ],
      },
    ]);
    // The next poll is armed with the request for this one.
    expect(r.context.deadlines.poll).toEqual({ at: '2026-04-10T08:00:22.000Z', event: { type: 'pollDue', data: { round: 2 } } });

    r.send('jobStatus', { ...status('SPB.AGIPD', 'running'), runnerState: 'RUNNING' });
    r.send('jobStatus', status('SPB.AGIPD', 'completed', 0));
    expect(r.context.deadlines['timeout.SPB.AGIPD']).toBeUndefined();
    expect(paramsOf<PollJobsParams>(r.fire('poll'), 'pollJobs')[0]?.jobs.map((j) => j.jobKey)).toEqual(['SPB.JF4M']);
    const collect = r.send('jobStatus', status('SPB.JF4M', 'completed', 0));
    expect(r.state).toBe('collecting');
    expect(r.context.deadlines).toEqual({});
    expect(paramsOf(collect, 'collectArtifacts')).toEqual([
      {
        reportId: 'r1',
        jobs: [
          { jobKey: 'SPB.AGIPD', workDir: '/data/drafts/reports/r1/jobs/SPB.AGIPD', job: spec('SPB.AGIPD') },
          { jobKey: 'SPB.JF4M', workDir: '/data/drafts/reports/r1/jobs/SPB.JF4M', job: spec('SPB.JF4M') },
        ],
      },
    ]);

    const build = r.send('artifactsCollected', {
      jobs: [
        { jobKey: 'SPB.AGIPD', files: files('/data/drafts/reports/r1/jobs/SPB.AGIPD/T.png', '/data/drafts/reports/r1/jobs/SPB.AGIPD/T.svg') },
        { jobKey: 'SPB.JF4M', files: files('/data/drafts/reports/r1/jobs/SPB.JF4M/T.png') },
      ],
    });
    expect(r.state).toBe('building');
    expect(paramsOf(build, 'buildReport')).toEqual([
      expect.objectContaining({
        reportId: 'r1',
        mode: 'local',
        title: 'DC',
        createdAt: '2026-04-10T08:00:00.000Z',
        draftDir: '/data/drafts/reports/r1/report',
        jobs: [
          expect.objectContaining({ jobKey: 'SPB.AGIPD', state: 'completed', exitCode: 0, artifacts: files('/data/drafts/reports/r1/jobs/SPB.AGIPD/T.png', '/data/drafts/reports/r1/jobs/SPB.AGIPD/T.svg') }),
          expect.objectContaining({ jobKey: 'SPB.JF4M', state: 'completed' }),
        ],
      }),
    ]);

    const built = { dir: '/data/drafts/reports/r1/report', index: '/data/drafts/reports/r1/report/index.html', files: files('/data/drafts/reports/r1/report/index.html') };
    const publish = r.send('reportBuilt', built);
    expect(r.state).toBe('publishing');
    expect(paramsOf<PublishParams>(publish, 'publish')).toEqual([
      { reportId: 'r1', mode: 'local', title: 'DC', draftDir: '/data/drafts/reports/r1/report', targetDir: '/data/reports/r1', files: built.files, git: null },
    ]);
    expect(r.send('published', { dir: '/data/reports/r1', commit: null })).toEqual([]);
    expect(r.state).toBe('completed');
    expect(r.snapshot.status).toBe('done');

    expect(reportJobActor.summary(r.snapshot as never)).toMatchObject({
      mode: 'local',
      runner: 'slurm',
      jobs: [
        { key: 'SPB.AGIPD', state: 'completed', runnerJobId: '100', exitCode: 0, artifacts: 2 },
        { key: 'SPB.JF4M', state: 'completed', runnerJobId: '101', exitCode: 0, artifacts: 1 },
      ],
      progress: { jobs: 2, finished: 2, completed: 2, failed: 0, timedOut: 0, cancelled: 0, pollRound: 2, nextPollAt: null },
      artifactCount: 3,
      report: { dir: built.dir, index: built.index, files: 1 },
      published: { dir: '/data/reports/r1', commit: null },
      finishedAt: expect.any(String),
    });
    expect(reportJobActor.summary(r.snapshot as never)).not.toHaveProperty('error');
    expect(reportJobActor.details?.(r.snapshot as never).artifacts).toEqual([
      { jobKey: 'SPB.AGIPD', path: '/data/drafts/reports/r1/jobs/SPB.AGIPD/T.png', bytes: 10 },
      { jobKey: 'SPB.AGIPD', path: '/data/drafts/reports/r1/jobs/SPB.AGIPD/T.svg', bytes: 10 },
      { jobKey: 'SPB.JF4M', path: '/data/drafts/reports/r1/jobs/SPB.JF4M/T.png', bytes: 10 },
      { jobKey: null, path: '/data/drafts/reports/r1/report/index.html', bytes: 10 },
    ]);
  });

  it('publishes to git in prod, and stops after the build in sim', () => {
    const target = { gitUrl: '/srv/git/dc.git', branch: 'main', subFolder: 'site' };
    const prod = allCompleted(request({ mode: 'prod', publish: target }));
    prod.send('artifactsCollected', { jobs: [{ jobKey: 'SPB.AGIPD', files: files('/a.png') }] });
    const push = prod.send('reportBuilt', { dir: '/d', index: '/d/index.html', files: files('/d/index.html') });
    expect(paramsOf<PublishParams>(push, 'publish')[0]).toMatchObject({ mode: 'prod', git: target });
    prod.send('published', { dir: '/data/reports/r1', commit: 'abc123' });
    expect(reportJobActor.summary(prod.snapshot as never)).toMatchObject({ published: { commit: 'abc123' } });

    const sim = allCompleted(request({ mode: 'sim', outDir: null }));
    sim.send('artifactsCollected', { jobs: [{ jobKey: 'SPB.AGIPD', files: files('/a.png') }] });
    expect(sim.send('reportBuilt', { dir: '/d', index: '/d/index.html', files: [] })).toEqual([]);
    expect(sim.state).toBe('completed');
  });

  it('builds the report from the jobs that completed when others fail, and lists them', () => {
    const r = report(request({ jobs: [spec('SPB.AGIPD'), spec('SPB.JF4M'), spec('MID.EPIX')] }));
    r.send('jobSubmitted', { jobKey: 'SPB.AGIPD', runnerJobId: '1', found: false });
    r.send('jobSubmitFailed', { jobKey: 'MID.EPIX', reason: 'INVALID_PARTITION', message: 'sbatch: error: invalid partition specified: nope' });
    r.send('jobSubmitted', { jobKey: 'SPB.JF4M', runnerJobId: '2', found: false });
    expect(r.state).toBe('running');
    r.fire('poll');
    r.send('jobStatus', { jobKey: 'SPB.JF4M', state: 'failed', exitCode: 3, reason: 'NonZeroExitCode', runnerState: 'FAILED' });
    expect(r.state).toBe('running');
    r.send('jobStatus', status('SPB.AGIPD', 'completed', 0));
    expect(r.state).toBe('collecting');
    const build = r.send('artifactsCollected', { jobs: [{ jobKey: 'SPB.AGIPD', files: files('/a.png') }] });
    expect(paramsOf<{ jobs: Array<{ jobKey: string; state: string; exitCode: number | null; reason: string | null }> }>(build, 'buildReport')[0]?.jobs).toEqual([
      expect.objectContaining({ jobKey: 'SPB.AGIPD', state: 'completed' }),
      expect.objectContaining({ jobKey: 'SPB.JF4M', state: 'failed', exitCode: 3, reason: 'NonZeroExitCode' }),
      expect.objectContaining({ jobKey: 'MID.EPIX', state: 'failed', exitCode: null, reason: 'not submitted: INVALID_PARTITION: sbatch: error: invalid partition specified: nope' }),
    ]);
    r.send('reportBuilt', { dir: '/d', index: '/d/index.html', files: [] });
    r.send('published', { dir: '/data/reports/r1', commit: null });
    expect(r.state).toBe('completed');
    expect(reportJobActor.summary(r.snapshot as never)).toMatchObject({ progress: { completed: 1, failed: 2 } });
  });

  it('fails when no job completed, saying why for each', () => {
    const r = report();
    submitted(r, 'SPB.AGIPD', 'SPB.JF4M');
    r.fire('poll');
    r.send('jobStatus', { jobKey: 'SPB.AGIPD', state: 'failed', exitCode: 1, reason: 'NonZeroExitCode' });
    r.send('jobStatus', { jobKey: 'SPB.JF4M', state: 'failed', reason: 'OUT_OF_MEMORY' });
    expect(r.state).toBe('failed');
    expect(r.context.error).toBe('no job completed: SPB.AGIPD failed (exit 1): NonZeroExitCode; SPB.JF4M failed: OUT_OF_MEMORY');
    expect(r.context.deadlines).toEqual({});

    const refused = report();
    refused.send('jobSubmitFailed', { jobKey: 'SPB.AGIPD', reason: 'SBATCH', message: 'no' });
    refused.send('jobSubmitFailed', { jobKey: 'SPB.JF4M', reason: 'SBATCH', message: 'no' });
    expect(refused.state).toBe('failed');
  });

  it('also fails when the completed jobs left nothing to report', () => {
    const r = allCompleted();
    r.send('artifactsCollected', { jobs: [{ jobKey: 'SPB.AGIPD', files: [] }, { jobKey: 'SPB.JF4M', files: [] }] });
    expect(r.state).toBe('failed');
    expect(r.context.error).toBe('collect: the completed jobs left no artifacts');
  });

  it('times a job out: cancels it, waits for the runner to confirm, and ends timed_out when all did', () => {
    const r = report(request({ jobs: [spec('SPB.AGIPD')], jobTimeoutSeconds: 30 }));
    r.send('jobSubmitted', { jobKey: 'SPB.AGIPD', runnerJobId: '7', found: false }, '2026-04-10T08:00:05.000Z');
    r.fire('poll');
    r.send('jobStatus', status('SPB.AGIPD', 'running'));
    r.fire('poll');
    const cancel = r.fire('timeout.SPB.AGIPD');
    expect(r.snapshot.context.deadlines['timeout.SPB.AGIPD']).toBeUndefined();
    expect(r.steps.at(-1)?.snapshot.context).toMatchObject({ jobs: [{ state: 'timed_out', cancel: 'timeout', finishedAt: '2026-04-10T08:00:35.000Z' }] });
    expect(paramsOf<CancelJobsParams>(cancel, 'cancelJobs')).toEqual([
      {
        reportId: 'r1',
        runner: 'slurm',
        why: 'timeout',
        jobs: [{ jobKey: 'SPB.AGIPD', jobName: 'daqflow-r1-SPB.AGIPD', runnerJobId: '7', workDir: '/data/drafts/reports/r1/jobs/SPB.AGIPD' }],
      },
    ]);
    // Still running until the runner says the job is gone: nothing is left running behind a final state.
    expect(r.state).toBe('running');
    // A poll that sees the cancelled job changes nothing: the job ended timed_out.
    expect(r.accepts('jobStatus', status('SPB.AGIPD', 'cancelled'))).toBe(false);
    r.send('jobsCancelled', { why: 'timeout', jobs: [{ jobKey: 'SPB.AGIPD', runnerJobId: '7', outcome: 'cancelled' }] });
    expect(r.state).toBe('timed_out');
    expect(r.context.error).toBe('every job timed out: SPB.AGIPD timed out after 30 s: exceeded the job timeout of 30 s');
  });

  it('completes with a timed-out job listed when another job completed', () => {
    const r = report();
    submitted(r, 'SPB.AGIPD', 'SPB.JF4M');
    r.fire('poll');
    r.send('jobStatus', status('SPB.JF4M', 'completed', 0));
    r.fire('timeout.SPB.AGIPD');
    r.send('jobsCancelled', { why: 'timeout', jobs: [{ jobKey: 'SPB.AGIPD', runnerJobId: '100', outcome: 'cancelled' }] });
    expect(r.state).toBe('collecting');
    // Only what completed is collected.
    expect(r.steps.at(-1)?.actions).toEqual([expect.objectContaining({ type: 'collectArtifacts', params: expect.objectContaining({ jobs: [expect.objectContaining({ jobKey: 'SPB.JF4M' })] }) })]);
  });

  it('records a job state only on a change, of a known job that is with the runner', () => {
    const r = report();
    r.send('jobSubmitted', { jobKey: 'SPB.AGIPD', runnerJobId: '1', found: false });
    // A status of a job still being submitted, or a second submission of a job: not accepted.
    expect(r.accepts('jobSubmitted', { jobKey: 'SPB.AGIPD', runnerJobId: '9', found: true })).toBe(false);
    r.send('jobSubmitted', { jobKey: 'SPB.JF4M', runnerJobId: '2', found: false });
    r.fire('poll');
    expect(r.accepts('jobStatus', status('SPB.AGIPD', 'queued'))).toBe(false);
    expect(r.accepts('jobStatus', status('SPB.NOPE', 'running'))).toBe(false);
    r.send('jobStatus', status('SPB.AGIPD', 'running'));
    expect(r.accepts('jobStatus', status('SPB.AGIPD', 'running'))).toBe(false);
    // A requeued job goes back to queued.
    r.send('jobStatus', { ...status('SPB.AGIPD', 'queued'), runnerState: 'REQUEUED' });
    r.send('jobStatus', status('SPB.AGIPD', 'completed', 0));
    expect(r.accepts('jobStatus', status('SPB.AGIPD', 'failed'))).toBe(false);
    // The job's timeout went with it.
    expect(r.accepts('jobTimedOut', { jobKey: 'SPB.AGIPD' })).toBe(false);
    // Stale or repeated poll deadlines are not accepted either.
    expect(r.accepts('pollDue', { round: 1 })).toBe(false);
    expect(r.accepts('pollDue', { round: 3 })).toBe(false);
  });

  it('does not ask the runner when no job is left to poll', () => {
    const r = report(request({ jobs: [spec('SPB.AGIPD')] }));
    submitted(r, 'SPB.AGIPD');
    r.fire('timeout.SPB.AGIPD');
    // The cancel is on its way; the poll deadline still fires, with nothing to ask.
    expect(r.fire('poll')).toEqual([]);
  });

  it('keeps going after a failed poll, and after a cancel of a timed-out job that did not get through', () => {
    const r = report();
    submitted(r, 'SPB.AGIPD', 'SPB.JF4M');
    r.fire('poll');
    r.send('effectFailed', { effect: 'pollJobs', message: 'squeue: error: slurm_load_jobs error: Unable to contact slurm controller' });
    expect(r.state).toBe('running');
    expect(reportJobActor.summary(r.snapshot as never)).toMatchObject({ progress: { lastPollError: expect.stringMatching(/Unable to contact/) } });
    r.fire('timeout.SPB.AGIPD');
    r.send('effectFailed', { effect: 'cancelJobs', message: 'scancel: timeout' });
    expect(r.job('SPB.AGIPD')).toMatchObject({ state: 'timed_out', cancel: null, reason: 'exceeded the job timeout of 600 s; cancel failed: scancel: timeout' });
    r.send('jobStatus', status('SPB.JF4M', 'completed', 0));
    expect(r.state).toBe('collecting');
  });

  describe('cancel', () => {
    it('while submitting cancels jobs with an id by id and the others by name', () => {
      const r = report();
      r.send('jobSubmitted', { jobKey: 'SPB.AGIPD', runnerJobId: '100', found: false });
      const cancel = r.send('cancelRequested', { reason: 'operator' });
      expect(r.state).toBe('cancelling');
      expect(r.context.deadlines).toEqual({});
      expect(paramsOf<CancelJobsParams>(cancel, 'cancelJobs')).toEqual([
        {
          reportId: 'r1',
          runner: 'slurm',
          why: 'cancel',
          jobs: [
            expect.objectContaining({ jobKey: 'SPB.AGIPD', runnerJobId: '100' }),
            { jobKey: 'SPB.JF4M', jobName: 'daqflow-r1-SPB.JF4M', runnerJobId: null, workDir: '/data/drafts/reports/r1/jobs/SPB.JF4M' },
          ],
        },
      ]);
      expect(r.accepts('cancelRequested', { reason: 'again' })).toBe(false);
      r.send('jobsCancelled', {
        why: 'cancel',
        jobs: [
          { jobKey: 'SPB.AGIPD', runnerJobId: '100', outcome: 'cancelled' },
          { jobKey: 'SPB.JF4M', runnerJobId: null, outcome: 'not_found' },
        ],
      });
      expect(r.state).toBe('cancelled');
      expect(r.context.error).toBe('operator');
      expect(r.context.jobs.map((j) => j.state)).toEqual(['cancelled', 'cancelled']);
    });

    it('cancels a submission that lands while cancelling, and is not fooled by the cancel by name that missed it', () => {
      const r = report();
      r.send('cancelRequested', { reason: '' });
      const again = r.send('jobSubmitted', { jobKey: 'SPB.JF4M', runnerJobId: '555', found: false });
      expect(paramsOf<CancelJobsParams>(again, 'cancelJobs')).toEqual([
        expect.objectContaining({ why: 'cancel', jobs: [expect.objectContaining({ jobKey: 'SPB.JF4M', runnerJobId: '555' })] }),
      ]);
      r.send('jobsCancelled', {
        why: 'cancel',
        jobs: [
          { jobKey: 'SPB.AGIPD', runnerJobId: null, outcome: 'not_found' },
          { jobKey: 'SPB.JF4M', runnerJobId: null, outcome: 'not_found' },
        ],
      });
      expect(r.state).toBe('cancelling');
      expect(r.job('SPB.JF4M')).toMatchObject({ state: 'queued', cancel: 'cancel' });
      r.send('jobsCancelled', { why: 'cancel', jobs: [{ jobKey: 'SPB.JF4M', runnerJobId: '555', outcome: 'cancelled' }] });
      expect(r.state).toBe('cancelled');
      expect(r.context.error).toBeNull();
    });

    it('while running keeps a job that finished before the cancel reached it', () => {
      const r = report();
      submitted(r, 'SPB.AGIPD', 'SPB.JF4M');
      r.fire('poll');
      r.send('jobStatus', status('SPB.AGIPD', 'running'));
      const cancel = r.send('cancelRequested', { reason: 'wrong dates' });
      expect(paramsOf<CancelJobsParams>(cancel, 'cancelJobs')[0]?.jobs.map((j) => j.runnerJobId)).toEqual(['100', '101']);
      r.send('jobsCancelled', {
        why: 'cancel',
        jobs: [
          { jobKey: 'SPB.AGIPD', runnerJobId: '100', outcome: 'finished', exitCode: 0 },
          { jobKey: 'SPB.JF4M', runnerJobId: '101', outcome: 'cancelled' },
        ],
      });
      expect(r.state).toBe('cancelled');
      expect(r.context.jobs.map((j) => j.state)).toEqual(['completed', 'cancelled']);
      expect(r.context.error).toBe('wrong dates');
    });

    it('also waits for a timeout cancel still on its way', () => {
      const r = report();
      submitted(r, 'SPB.AGIPD', 'SPB.JF4M');
      r.fire('poll');
      r.fire('timeout.SPB.AGIPD');
      const cancel = r.send('cancelRequested', { reason: 'x' });
      expect(paramsOf<CancelJobsParams>(cancel, 'cancelJobs')[0]?.jobs.map((j) => j.jobKey)).toEqual(['SPB.AGIPD', 'SPB.JF4M']);
      r.send('jobsCancelled', { why: 'cancel', jobs: [{ jobKey: 'SPB.JF4M', runnerJobId: '101', outcome: 'cancelled' }] });
      expect(r.state).toBe('cancelling');
      r.send('jobsCancelled', { why: 'timeout', jobs: [{ jobKey: 'SPB.AGIPD', runnerJobId: '100', outcome: 'cancelled' }] });
      expect(r.state).toBe('cancelled');
      expect(r.context.jobs.map((j) => j.state)).toEqual(['timed_out', 'cancelled']);
    });

    it('ends a report with no job running at once, in collecting, building and publishing', () => {
      const states: Array<[string, (r: ReturnType<typeof allCompleted>) => void]> = [
        ['collecting', () => undefined],
        ['building', (r) => r.send('artifactsCollected', { jobs: [{ jobKey: 'SPB.AGIPD', files: files('/a.png') }] })],
        [
          'publishing',
          (r) => {
            r.send('artifactsCollected', { jobs: [{ jobKey: 'SPB.AGIPD', files: files('/a.png') }] });
            r.send('reportBuilt', { dir: '/d', index: '/d/index.html', files: [] });
          },
        ],
      ];
      for (const [state, reach] of states) {
        const r = allCompleted();
        reach(r);
        expect(r.state).toBe(state);
        expect(r.send('cancelRequested', { reason: 'enough' })).toEqual([]);
        expect(r.state).toBe('cancelled');
        expect(r.context.error).toBe('enough');
      }
    });

    it('is refused once the report has ended', () => {
      for (const r of [
        (() => {
          const done = allCompleted(request({ mode: 'sim', outDir: null }));
          done.send('artifactsCollected', { jobs: [{ jobKey: 'SPB.AGIPD', files: files('/a.png') }] });
          done.send('reportBuilt', { dir: '/d', index: '/d/i.html', files: [] });
          return done;
        })(),
      ]) {
        expect(r.state).toBe('completed');
        expect(r.accepts('cancelRequested', { reason: '' })).toBe(false);
      }
    });
  });

  it('fails, after cancelling its jobs, when an effect throws while jobs run', () => {
    const r = report();
    r.send('jobSubmitted', { jobKey: 'SPB.AGIPD', runnerJobId: '100', found: false });
    const cancel = r.send('effectFailed', { effect: 'submitJob', message: 'EACCES: permission denied, mkdir' });
    expect(r.state).toBe('cancelling');
    expect(paramsOf<CancelJobsParams>(cancel, 'cancelJobs')[0]).toMatchObject({ why: 'failure' });
    r.send('effectFailed', { effect: 'cancelJobs', message: 'scancel: not found' });
    expect(r.state).toBe('failed');
    expect(r.context.error).toBe('submitJob: EACCES: permission denied, mkdir; cancelling SPB.AGIPD, SPB.JF4M failed: the runner may still run them');
  });

  it('fails on a build or publish failure', () => {
    const build = allCompleted();
    build.send('artifactsCollected', { jobs: [{ jobKey: 'SPB.AGIPD', files: files('/a.png') }] });
    build.send('failed', { stage: 'build', reason: 'no statistics for SPB.AGIPD:T in the range' });
    expect([build.state, build.context.error]).toEqual(['failed', 'build: no statistics for SPB.AGIPD:T in the range']);
    const publish = allCompleted(request({ mode: 'prod', publish: { gitUrl: '/g', branch: 'main', subFolder: '.' } }));
    publish.send('artifactsCollected', { jobs: [{ jobKey: 'SPB.AGIPD', files: files('/a.png') }] });
    publish.send('reportBuilt', { dir: '/d', index: '/d/i.html', files: [] });
    publish.send('effectFailed', { effect: 'publish', message: 'git push: rejected (non-fast-forward)' });
    expect([publish.state, publish.context.error]).toEqual(['failed', 'publish: git push: rejected (non-fast-forward)']);
  });

  describe('recover', () => {
    const recover = (r: { snapshot: AnyMachineSnapshot }) => reportJobActor.recover?.(r.snapshot as never) ?? [];

    it('looks submitted-or-not jobs up by name first, and never re-submits a job with an id', () => {
      const r = report();
      r.send('jobSubmitted', { jobKey: 'SPB.AGIPD', runnerJobId: '100', found: false });
      expect(recover(r)).toEqual([{ type: 'submitJob', params: expect.objectContaining({ jobKey: 'SPB.JF4M', jobName: 'daqflow-r1-SPB.JF4M', findExisting: true }) }]);
      // Found by name: the job that was submitted before the crash, with its id.
      r.send('jobSubmitted', { jobKey: 'SPB.JF4M', runnerJobId: '101', found: true });
      expect(r.state).toBe('running');
    });

    it('polls at once when running, and re-sends the cancels not confirmed', () => {
      const r = report();
      submitted(r, 'SPB.AGIPD', 'SPB.JF4M');
      r.fire('poll');
      r.fire('timeout.SPB.AGIPD');
      expect(recover(r)).toEqual([
        { type: 'pollJobs', params: expect.objectContaining({ round: 1, jobs: [expect.objectContaining({ jobKey: 'SPB.JF4M', runnerJobId: '101' })] }) },
        { type: 'cancelJobs', params: expect.objectContaining({ why: 'timeout', jobs: [expect.objectContaining({ jobKey: 'SPB.AGIPD' })] }) },
      ]);
      r.send('cancelRequested', { reason: '' });
      expect(recover(r)).toEqual([{ type: 'cancelJobs', params: expect.objectContaining({ why: 'cancel', jobs: [expect.objectContaining({ jobKey: 'SPB.AGIPD' }), expect.objectContaining({ jobKey: 'SPB.JF4M' })] }) }]);
    });

    it('re-issues the step the report waits on, and nothing once it ended', () => {
      const r = allCompleted(request({ mode: 'prod', publish: { gitUrl: '/g', branch: 'main', subFolder: '.' } }));
      expect(recover(r).map((e) => e.type)).toEqual(['collectArtifacts']);
      r.send('artifactsCollected', { jobs: [{ jobKey: 'SPB.AGIPD', files: files('/a.png') }] });
      expect(recover(r)).toEqual([{ type: 'buildReport', params: r.steps.at(-1)?.actions[0]?.params }]);
      r.send('reportBuilt', { dir: '/d', index: '/d/i.html', files: [] });
      expect(recover(r)).toEqual([{ type: 'publish', params: r.steps.at(-1)?.actions[0]?.params }]);
      r.send('published', { dir: '/data/reports/r1', commit: 'c' });
      expect(recover(r)).toEqual([]);
    });
  });
});
