import { afterEach, describe, expect, it } from 'vitest';
import { newId } from '../../adapters/ids.js';
import { EventSchemas } from '../../events/eventSchemas.js';
import { InMemoryEventStore } from '../../events/inMemoryEventStore.js';
import type { EffectContext, EffectHandlers, EventInput } from '../runtime/actorDefinition.js';
import { defineActor } from '../runtime/actorDefinition.js';
import { ActorRuntime } from '../runtime/actorRuntime.js';
import { rehydrate } from '../runtime/rehydrate.js';
import { stateOf } from '../runtime/stateOf.js';
import { reportJobActor } from './reportJob.actor.js';
import type {
  BuildReportParams,
  CancelJobsParams,
  CollectArtifactsParams,
  PollJobsParams,
  PublishParams,
  SubmitJobParams,
} from './reportJob.effects.js';
import type { ReportJobSpec, ReportRequested, RunnerJobState } from './reportJob.events.js';

// The report actor on the real runtime over the in-memory store, with a scripted runner: the
// events the effects give are validated and stored, deadlines are armed and fire, and a restart
// recovers from what was stored. The runtime's timers run in real time, so these reports poll
// every second (the shortest interval) and take a few seconds each.

const spec = (key: string): ReportJobSpec => {
  const [instrument = '', detector = ''] = key.split('.');
  return {
    key,
    instrument,
    detector,
    title: key,
    parameters: [`${key}:T`],
    from: '2026-03-11T00:00:00.000Z',
    to: '2026-04-10T00:00:00.000Z',
    plot: { formats: ['png'], statistics: ['mean'], interval: false, width: 900, height: 300, logScale: false },
  };
};

const request = (keys: string[], over: Partial<ReportRequested> = {}): ReportRequested => ({
  mode: 'local',
  runner: 'slurm',
  instruments: ['SPB'],
  title: 'DC',
  jobs: keys.map(spec),
  workDir: '/data/drafts/reports',
  outDir: '/data/reports',
  publish: null,
  jobUpdateIntervalSeconds: 1,
  jobTimeoutSeconds: 3_600,
  slurm: null,
  timeZone: 'UTC',
  config: {},
  configPath: null,
  scheduleId: null,
  ...over,
});

/** How a scripted job behaves: its states poll after poll, then its exit code; `hang` never ends. */
type Script = { states: RunnerJobState[]; exitCode?: number } | 'hang';

/**
 * A runner that keeps its jobs across runtimes (as Slurm does across a daqflow restart) and
 * counts submissions by name: the acceptance test's "sbatch was called exactly once per job".
 */
const scriptedRunner = (scripts: Record<string, Script>, options: { holdSubmitOf?: string } = {}) => {
  const jobs = new Map<string, { name: string; jobKey: string; polls: number; state: RunnerJobState }>();
  const submissions: string[] = [];
  const cancels: CancelJobsParams[] = [];
  let holding = options.holdSubmitOf;
  let nextId = 5_000;
  const effects: EffectHandlers = {
    submitJob: async (p: SubmitJobParams, ctx: EffectContext): Promise<EventInput | void> => {
      const existing = p.findExisting ? [...jobs.entries()].find(([, j]) => j.name === p.jobName) : undefined;
      if (existing) return { type: 'jobSubmitted', data: { jobKey: p.jobKey, runnerJobId: existing[0], found: true } };
      const id = String(nextId++);
      submissions.push(p.jobName);
      jobs.set(id, { name: p.jobName, jobKey: p.jobKey, polls: 0, state: 'queued' });
      if (holding === p.jobKey) {
        // The process dies after sbatch, before the job id is recorded.
        holding = undefined;
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
        return;
      }
      return { type: 'jobSubmitted', data: { jobKey: p.jobKey, runnerJobId: id, found: false } };
    },
    pollJobs: async (p: PollJobsParams) =>
      p.jobs.flatMap((ref) => {
        const job = jobs.get(ref.runnerJobId ?? '');
        const script = scripts[ref.jobKey];
        if (!job || !script || job.state === 'cancelled') return [];
        if (script !== 'hang') {
          job.state = script.states[Math.min(job.polls, script.states.length - 1)] ?? 'queued';
          job.polls++;
        } else job.state = 'running';
        if (job.state === ref.state) return [];
        const ended = job.state === 'completed' || job.state === 'failed';
        return [{ type: 'jobStatus', data: { jobKey: ref.jobKey, state: job.state, ...(ended && script !== 'hang' ? { exitCode: script.exitCode ?? 0 } : {}) } }];
      }),
    cancelJobs: async (p: CancelJobsParams) => {
      cancels.push(p);
      return {
        type: 'jobsCancelled',
        data: {
          why: p.why,
          jobs: p.jobs.map((ref) => {
            const found = [...jobs.entries()].find(([id, j]) => id === ref.runnerJobId || (ref.runnerJobId === null && j.name === ref.jobName));
            if (found) found[1].state = 'cancelled';
            return { jobKey: ref.jobKey, runnerJobId: found?.[0] ?? ref.runnerJobId, outcome: found ? 'cancelled' : 'not_found' };
          }),
        },
      };
    },
    collectArtifacts: async (p: CollectArtifactsParams) => ({
      type: 'artifactsCollected',
      data: { jobs: p.jobs.map((j) => ({ jobKey: j.jobKey, files: [{ path: `${j.workDir}/${j.job.detector}.png`, bytes: 100 }] })) },
    }),
    buildReport: async (p: BuildReportParams) => ({
      type: 'reportBuilt',
      data: { dir: p.draftDir, index: `${p.draftDir}/index.html`, files: [{ path: `${p.draftDir}/index.html`, bytes: 2_000 }] },
    }),
    publish: async (p: PublishParams) => ({ type: 'published', data: { dir: p.targetDir, commit: p.git ? 'c0ffee' : null } }),
  };
  return { effects, submissions, cancels, jobs };
};

const runtimes: ActorRuntime[] = [];
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((r) => r.stop(100)));
});

const startRuntime = async (store: InMemoryEventStore, effects: EffectHandlers): Promise<ActorRuntime> => {
  const runtime = new ActorRuntime({
    store,
    schemas: new EventSchemas(),
    definitions: [defineActor(reportJobActor)],
    effects: { report: effects },
    newId,
  });
  runtimes.push(runtime);
  await runtime.start();
  return runtime;
};

const until = async (check: () => Promise<boolean>, ms = 15_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

const finalState = async (store: InMemoryEventStore, id: string): Promise<string> => {
  await until(async () => (await store.readLast('report', id))?.final === true);
  return (await store.readLast('report', id))?.state ?? '';
};

/** Folding the stored events gives, after every one, the state and summary recorded with it. */
const expectReplayAgrees = async (store: InMemoryEventStore, id: string): Promise<void> => {
  const events = await store.readStream('report', id);
  const definition = defineActor(reportJobActor);
  for (let upTo = 1; upTo <= events.length; upTo++) {
    const folded = rehydrate(definition, id, events.slice(0, upTo));
    expect(stateOf(folded.snapshot)).toBe(events[upTo - 1]?.state);
    expect(definition.summary(folded.snapshot as never)).toEqual(events[upTo - 1]?.summary);
  }
};

describe('report jobs on the runtime', () => {
  it('runs a report to completion, one job failing, and its history replays to the same states', async () => {
    const store = new InMemoryEventStore();
    const runner = scriptedRunner({ 'SPB.AGIPD': { states: ['running', 'completed'] }, 'SPB.JF4M': { states: ['failed'], exitCode: 2 } });
    const runtime = await startRuntime(store, runner.effects);
    const { id } = await runtime.create('report', 'start', request(['SPB.AGIPD', 'SPB.JF4M']), { requestId: 'r-complete' });
    expect(await finalState(store, id)).toBe('completed');
    const events = await store.readStream('report', id);
    expect(events.map((e) => e.type).filter((t) => t !== 'pollDue')).toEqual([
      'requested',
      'jobSubmitted',
      'jobSubmitted',
      'jobStatus',
      'jobStatus',
      'jobStatus',
      'artifactsCollected',
      'reportBuilt',
      'published',
    ]);
    expect(events.at(-1)?.summary).toMatchObject({
      jobs: [
        { key: 'SPB.AGIPD', state: 'completed', exitCode: 0, artifacts: 1 },
        { key: 'SPB.JF4M', state: 'failed', exitCode: 2, artifacts: 0 },
      ],
      published: { dir: `/data/reports/${id}`, commit: null },
    });
    const view = await runtime.get('report', id);
    expect(view.details?.artifacts).toEqual([
      { jobKey: 'SPB.AGIPD', path: `/data/drafts/reports/${id}/jobs/SPB.AGIPD/AGIPD.png`, bytes: 100 },
      { jobKey: null, path: `/data/drafts/reports/${id}/report/index.html`, bytes: 2_000 },
    ]);
    await expectReplayAgrees(store, id);
  });

  it('after a crash between sbatch and its record, finds the job by name and submits nothing twice', async () => {
    const store = new InMemoryEventStore();
    const runner = scriptedRunner(
      { 'SPB.AGIPD': { states: ['running', 'completed'] }, 'SPB.JF4M': { states: ['completed'] } },
      { holdSubmitOf: 'SPB.JF4M' },
    );
    const first = await startRuntime(store, runner.effects);
    const { id } = await first.create('report', 'start', request(['SPB.AGIPD', 'SPB.JF4M']), { requestId: 'r-crash' });
    await until(async () => runner.submissions.length === 2 && (await store.readStream('report', id)).some((e) => e.type === 'jobSubmitted'));
    await first.stop(50);
    expect((await store.readLast('report', id))?.state).toBe('submitting');

    await startRuntime(store, runner.effects);
    expect(await finalState(store, id)).toBe('completed');
    expect(runner.submissions.sort()).toEqual([`daqflow-${id}-SPB.AGIPD`, `daqflow-${id}-SPB.JF4M`]);
    const found = (await store.readStream('report', id)).filter((e) => e.type === 'jobSubmitted').map((e) => e.data);
    expect(found).toEqual([
      { jobKey: 'SPB.AGIPD', runnerJobId: '5000', found: false },
      { jobKey: 'SPB.JF4M', runnerJobId: '5001', found: true },
    ]);
    await expectReplayAgrees(store, id);
  });

  it('cancels a job past its timeout and ends timed_out', async () => {
    const store = new InMemoryEventStore();
    const runner = scriptedRunner({ 'SPB.AGIPD': 'hang' });
    const runtime = await startRuntime(store, runner.effects);
    const { id } = await runtime.create('report', 'start', request(['SPB.AGIPD'], { jobTimeoutSeconds: 2 }));
    expect(await finalState(store, id)).toBe('timed_out');
    expect(runner.cancels).toEqual([expect.objectContaining({ why: 'timeout', jobs: [expect.objectContaining({ jobKey: 'SPB.AGIPD', runnerJobId: '5000' })] })]);
    const types = (await store.readStream('report', id)).map((e) => e.type);
    expect(types.slice(-2)).toEqual(['jobTimedOut', 'jobsCancelled']);
    await expectReplayAgrees(store, id);
  });

  it('cancels the running jobs on request and ends cancelled', async () => {
    const store = new InMemoryEventStore();
    const runner = scriptedRunner({ 'SPB.AGIPD': 'hang', 'MID.EPIX': 'hang' });
    const runtime = await startRuntime(store, runner.effects);
    const { id } = await runtime.create('report', 'start', request(['SPB.AGIPD', 'MID.EPIX']));
    await until(async () => (await store.readStream('report', id)).some((e) => e.type === 'jobStatus'));
    const view = await runtime.execute('report', id, 'cancel', { reason: 'operator asked' });
    expect(view.state).toBe('cancelling');
    expect(await finalState(store, id)).toBe('cancelled');
    expect([...runner.jobs.values()].map((j) => j.state)).toEqual(['cancelled', 'cancelled']);
    expect((await store.readLast('report', id))?.summary).toMatchObject({ error: 'operator asked', progress: { cancelled: 2 } });
    await expect(runtime.execute('report', id, 'cancel', {})).rejects.toMatchObject({ code: 'WRONG_STATE' });
    await expectReplayAgrees(store, id);
  });

  it('refuses a start that is not self-contained', async () => {
    const runtime = await startRuntime(new InMemoryEventStore(), scriptedRunner({}).effects);
    await expect(runtime.create('report', 'start', request(['SPB.AGIPD'], { mode: 'prod' }))).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      message: expect.stringMatching(/publish: prod mode needs a publish target/),
    });
    await expect(runtime.create('report', 'start', { ...request(['SPB.AGIPD', 'SPB.AGIPD']) })).rejects.toMatchObject({
      message: expect.stringMatching(/job keys must be unique/),
    });
  });
});
