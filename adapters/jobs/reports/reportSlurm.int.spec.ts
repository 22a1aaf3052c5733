import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { plotBasePath } from '../../report/reportPaths.js';
import { readWholeStream } from '../../../test/e2e/e2eHelpers.js';
import { makeSlurmWrappers, type SlurmWrappers } from '../../../test/fakes/slurmWrappers/slurmWrappers.js';
import { checkPng, checkReportSite, insertFixtureStatistics } from '../../../test/harness/reportChecks.js';
import { startInProcessDaqflow, type InProcessDaqflow } from '../../../test/harness/reportDaqflow.js';
import { useSharedSlurm } from '../../../test/harness/reportSlurm.js';
import { useTestDatabase } from '../../../test/harness/testDatabase.js';

/*
 * A report on the real single-node Slurm (the run's shared cluster): daqflow in this process,
 * DAQFLOW_SLURM_BIN_DIR pointing at wrappers that log every sbatch, squeue and scancel and run
 * the real ones. One job draws the built-in plots, one exits 3, one outlives the job timeout
 * and is cancelled by daqflow.
 */

const database = useTestDatabase();
const slurm = useSharedSlurm();
const scratch = mkdtempSync(join(tmpdir(), 'daqflow-report-slurm-'));
const dataRoot = join(scratch, 'data');
const JOB_TIMEOUT_SECONDS = 25;
let wrappers: SlurmWrappers;
let daqflow: InProcessDaqflow | undefined;
const reportIds: string[] = [];

beforeAll(async () => {
  const cluster = slurm.cluster();
  mkdirSync(dataRoot, { recursive: true });
  await insertFixtureStatistics(database.db, { parameter: 'SLURM:BEAM:CURRENT', units: 'mA' });
  wrappers = makeSlurmWrappers({ dir: join(scratch, 'bin'), slurmConf: cluster.slurmConf });
  daqflow = await startInProcessDaqflow({ database, home: scratch, dataRoot, slurmBinDir: wrappers.binDir });
});

afterAll(async () => {
  // What a failed test left running in the shared cluster.
  for (const id of reportIds) slurm.cancelJobsNamed(`daqflow-${id}-`);
  await daqflow?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const squeueState = (jobId: string): string =>
  execFileSync('/usr/bin/squeue', ['-h', '-t', 'all', '-j', jobId, '-o', '%T'], {
    env: { ...process.env, SLURM_CONF: slurm.cluster().slurmConf },
    encoding: 'utf8',
  }).trim();

describe('report jobs on a real single-node Slurm', () => {
  it('a job that completes, one that exits 3 and one that outlives the timeout: states on record match, the report completes', async () => {
    if (!daqflow) throw new Error('daqflow did not start');
    const started = await daqflow.start({
      mode: 'local',
      runner: 'slurm',
      requestId: 'slurm-three-jobs',
      config: {
        global: {
          title: 'Slurm report',
          jobUpdateIntervalSeconds: 1,
          jobTimeoutSeconds: JOB_TIMEOUT_SECONDS,
          timeZone: 'UTC',
          range: { from: '2026-11-01', to: '2026-11-15' },
          plot: { width: 400, height: 150 },
        },
        instruments: {
          SLURM: {
            detectors: {
              plots: { parameters: ['SLURM:BEAM:CURRENT'] },
              broken: { parameters: ['SLURM:BROKEN'], command: ['sh', '-c', 'exit 3'] },
              stuck: { parameters: ['SLURM:STUCK'], command: ['sleep', '120'] },
            },
          },
        },
      },
    });
    reportIds.push(started.id);
    expect(started.runner).toBe('slurm');
    const view = await daqflow.untilFinal(started.id, 60_000);
    expect(view.state, view.error).toBe('completed');
    const byKey = new Map(view.jobs.map((j) => [j.key, j]));
    const ids = (key: string): string => byKey.get(key)?.runnerJobId ?? '';
    for (const key of ['SLURM.plots', 'SLURM.broken', 'SLURM.stuck']) expect(ids(key), key).toMatch(/^\d+$/);

    // The status rows (actor_status, through query.list) say what happened to each job.
    const row = await daqflow.untilFinalStatusRow(started.id, 10_000);
    expect(row.state).toBe('completed');
    expect(row.summary.jobs?.map((j) => ({ key: j.key, state: j.state, exitCode: j.exitCode, runnerJobId: j.runnerJobId }))).toEqual([
      { key: 'SLURM.plots', state: 'completed', exitCode: 0, runnerJobId: ids('SLURM.plots') },
      { key: 'SLURM.broken', state: 'failed', exitCode: 3, runnerJobId: ids('SLURM.broken') },
      { key: 'SLURM.stuck', state: 'timed_out', exitCode: expect.toBeOneOf([null, 143]), runnerJobId: ids('SLURM.stuck') },
    ]);
    expect(row.summary.jobs?.find((j) => j.key === 'SLURM.broken')?.reason).toMatch(/exited with code 3/);
    expect(row.summary.jobs?.find((j) => j.key === 'SLURM.stuck')?.reason).toMatch(new RegExp(`exceeded the job timeout of ${JOB_TIMEOUT_SECONDS} s`));

    // daqflow cancelled the stuck job (one scancel, of that job only) once its timeout had passed,
    // and Slurm says it was cancelled; the others ran to their end in Slurm.
    expect(wrappers.calls('sbatch')).toHaveLength(3);
    expect(wrappers.calls('scancel')).toEqual([`scancel ${ids('SLURM.stuck')}`]);
    expect(squeueState(ids('SLURM.stuck'))).toBe('CANCELLED');
    expect(squeueState(ids('SLURM.plots'))).toBe('COMPLETED');
    expect(squeueState(ids('SLURM.broken'))).toBe('FAILED');
    const events = (await readWholeStream(inject('natsUrl'), daqflow.stream, daqflow.prefix)).filter((e) => e.actorId === started.id);
    const submittedAt = Date.parse(events.find((e) => e.type === 'jobSubmitted' && (e.data as { jobKey: string }).jobKey === 'SLURM.stuck')?.time ?? '');
    const timedOutAt = Date.parse(events.find((e) => e.type === 'jobTimedOut')?.time ?? '');
    expect(timedOutAt - submittedAt).toBeGreaterThanOrEqual(JOB_TIMEOUT_SECONDS * 1_000);
    expect(timedOutAt - submittedAt).toBeLessThan((JOB_TIMEOUT_SECONDS + 5) * 1_000);
    expect(events.filter((e) => e.type === 'jobsCancelled').map((e) => e.data)).toEqual([
      { why: 'timeout', jobs: [{ jobKey: 'SLURM.stuck', runnerJobId: ids('SLURM.stuck'), outcome: 'cancelled' }] },
    ]);

    // The report is built from the job that completed; the others are listed with their state.
    const published = join(dataRoot, 'reports', started.id);
    expect(view.published?.dir).toBe(published);
    const site = checkReportSite(published);
    const plot = join(published, `${plotBasePath('SLURM', 'plots', 'SLURM:BEAM:CURRENT')}.png`);
    expect(site.pngs).toEqual([plot]);
    checkPng(plot);
    const page = site.pages.get('SLURM')?.text.replace(/\s+/g, ' ') ?? '';
    expect(page).toMatch(/job failed \(exit 3\): exited with code 3/);
    expect(page).toMatch(new RegExp(`job timed_out.*exceeded the job timeout of ${JOB_TIMEOUT_SECONDS} s`));
    expect(page).toMatch(/SLURM:BROKEN: plot not produced/);
    expect(page).toMatch(/SLURM:STUCK: plot not produced/);
    expect(readFileSync(join(published, 'index.html'), 'utf8')).toContain('1 of 3');
  }, 90_000);

  it('a cancel while jobs run scancels each of them; the report and its jobs end cancelled', async () => {
    if (!daqflow) throw new Error('daqflow did not start');
    const scancelsBefore = wrappers.calls('scancel').length;
    const started = await daqflow.start({
      mode: 'sim',
      runner: 'slurm',
      config: {
        global: { jobUpdateIntervalSeconds: 1, jobTimeoutSeconds: 300, range: { last: '1d' } },
        instruments: {
          CANCEL: {
            detectors: {
              a: { parameters: ['CANCEL:A'], command: ['sleep', '90'] },
              b: { parameters: ['CANCEL:B'], command: ['sleep', '90'] },
            },
          },
        },
      },
    });
    reportIds.push(started.id);
    let seen = started;
    const deadline = Date.now() + 20_000;
    while (!seen.jobs.some((j) => j.state === 'running')) {
      if (Date.now() > deadline) throw new Error(`no job of ${started.id} ran: ${JSON.stringify(seen)}`);
      await new Promise((r) => setTimeout(r, 500));
      seen = (await daqflow.get(started.id)) ?? seen;
    }
    const cancel = await daqflow.request(`${daqflow.prefix}.reports.cancel`, { id: started.id, reason: 'enough' });
    expect(cancel.kind, JSON.stringify(cancel)).toBe('ok');
    const view = await daqflow.untilFinal(started.id, 30_000);
    expect(view.state).toBe('cancelled');
    expect(view.error).toBe('enough');
    expect(view.jobs.map((j) => [j.key, j.state])).toEqual([
      ['CANCEL.a', 'cancelled'],
      ['CANCEL.b', 'cancelled'],
    ]);
    const ids = view.jobs.map((j) => j.runnerJobId ?? '');
    expect(wrappers.calls('scancel').slice(scancelsBefore).sort()).toEqual(ids.map((id) => `scancel ${id}`).sort());
    for (const id of ids) expect(squeueState(id), id).toBe('CANCELLED');
    const row = await daqflow.untilFinalStatusRow(started.id, 10_000);
    expect(row.state).toBe('cancelled');
    expect(row.summary.jobs?.map((j) => j.state)).toEqual(['cancelled', 'cancelled']);
  }, 60_000);
});
