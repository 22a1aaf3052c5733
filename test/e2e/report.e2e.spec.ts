import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { makeSlurmWrappers, type SlurmWrappers } from '../fakes/slurmWrappers/slurmWrappers.js';
import { killAllDaqflowProcesses, startDaqflowProcess, type DaqflowProcess } from '../harness/daqflowProcess.js';
import { connectReportClient, type ReportClient, type ReportView } from '../harness/reportDaqflow.js';
import { useSharedSlurm } from '../harness/reportSlurm.js';
import { readWholeStream, useE2eEnvironments, waitFor, type DaqflowEnvironment } from './e2eHelpers.js';

/*
 * A Slurm report through `daqflow up` (a child process) on the run's single-node Slurm, with
 * DAQFLOW_SLURM_BIN_DIR pointing at wrappers that log every call and run the real commands.
 * daqflow is SIGKILLed while the jobs run: two recorded as submitted, the third submitted to
 * Slurm but its id not yet recorded (its sbatch answer is held back). After a restart the report
 * completes and sbatch was called once per job.
 */

const e2e = useE2eEnvironments('report');
const slurm = useSharedSlurm();
const reportIds: string[] = [];
let client: ReportClient | undefined;

const DETECTORS = ['first', 'second', 'delayed'] as const;
const RUN_DETECTORS = ['a', 'b', 'c'] as const;
const JOB_SECONDS = 4;

const jobCommand = (name: string): string[] => ['sh', '-c', `sleep ${JOB_SECONDS}; echo "${name} done" > "$DAQFLOW_REPORT_OUT/${name}.txt"`];

let environment: DaqflowEnvironment;
let dataRoot: string;
let wrappers: SlurmWrappers;
let env: Record<string, string>;

beforeAll(async () => {
  const cluster = slurm.cluster();
  environment = await e2e.create();
  dataRoot = join(e2e.home, `data-${environment.token}`);
  mkdirSync(dataRoot, { recursive: true });
  wrappers = makeSlurmWrappers({
    dir: join(e2e.home, `slurm-bin-${environment.token}`),
    slurmConf: cluster.slurmConf,
    // Long enough that the kill always comes first.
    sbatchDelay: { match: 'E2E.delayed', seconds: 45 },
  });
  const configPath = join(e2e.home, `report-${environment.token}.yaml`);
  const detectors = (names: readonly string[]) =>
    Object.fromEntries(names.map((d) => [d, { parameters: [`E2E:${d.toUpperCase()}`], command: jobCommand(d) }]));
  writeFileSync(
    configPath,
    JSON.stringify({
      global: { title: 'Crash report', runner: 'slurm', jobUpdateIntervalSeconds: 1, jobTimeoutSeconds: 120, range: { last: '1d' } },
      instruments: { E2E: { detectors: detectors(DETECTORS) }, RUN: { detectors: detectors(RUN_DETECTORS) } },
    }),
  );
  env = {
    ...environment.env,
    DAQFLOW_DATA_ROOT: dataRoot,
    DAQFLOW_SLURM_BIN_DIR: wrappers.binDir,
    DAQFLOW_REPORT_CONFIG: configPath,
  };
  client = await connectReportClient(environment.prefix, 'e2e-report-client');
});

afterEach(async () => {
  await killAllDaqflowProcesses();
});

afterAll(async () => {
  for (const id of reportIds) slurm.cancelJobsNamed(`daqflow-${id}-`);
  await client?.close();
});

const squeue = (...args: string[]): string =>
  execFileSync('/usr/bin/squeue', ['-h', ...args], { env: { ...process.env, SLURM_CONF: slurm.cluster().slurmConf }, encoding: 'utf8' }).trim();

const reportEvents = async (id: string) =>
  (await readWholeStream(inject('natsUrl'), environment.stream, environment.prefix)).filter((e) => e.actorId === id);

describe('a Slurm report through daqflow up, killed while its jobs run', () => {
  it('killed between a submission and its record: completes after a restart, sbatch called exactly once per job', async () => {
    if (!client) throw new Error('no client');
    let up: DaqflowProcess = await startDaqflowProcess({ env });
    const started = await client.start({ mode: 'local', instruments: ['E2E'], requestId: 'crash-between' });
    reportIds.push(started.id);
    expect(started.runner).toBe('slurm');
    const jobName = (detector: string): string => `daqflow-${started.id}-E2E.${detector}`;

    // The moment of the kill: two jobs recorded as submitted and running in Slurm, the third in
    // Slurm too while daqflow still waits for its id.
    let seen: ReportView | undefined;
    await waitFor(
      () => `two jobs recorded and running, the third held back; last seen ${JSON.stringify(seen)}, held ${JSON.stringify(wrappers.heldBack())}`,
      async () => {
        seen = await client?.get(started.id);
        const recorded = seen?.jobs.filter((j) => j.runnerJobId !== null).map((j) => j.key) ?? [];
        if (recorded.join() !== 'E2E.first,E2E.second' || wrappers.heldBack().length !== 1) return undefined;
        const running = squeue('-t', 'RUNNING', '-o', '%j').split('\n').filter((name) => name.startsWith(`daqflow-${started.id}-`));
        return running.length > 0 ? true : undefined;
      },
      30_000,
      250,
    );
    up.kill('SIGKILL');
    await up.exited;
    const atKill = await reportEvents(started.id);
    expect(atKill.filter((e) => e.type === 'jobSubmitted').map((e) => (e.data as { jobKey: string }).jobKey).sort()).toEqual(['E2E.first', 'E2E.second']);
    expect(atKill.at(-1)?.state).toBe('submitting');
    const heldId = (wrappers.heldBack()[0] ?? '').split(' ')[0] ?? '';
    expect(heldId).toMatch(/^\d+$/);
    // In Slurm: the held-back job exists under its name.
    expect(squeue('-t', 'all', '-n', jobName('delayed'), '-o', '%i')).toBe(heldId);

    up = await startDaqflowProcess({ env });
    const finished = await client.untilFinal(started.id, 60_000);
    expect(finished.state, finished.error).toBe('completed');
    expect(finished.jobs.map((j) => [j.key, j.state, j.exitCode])).toEqual(DETECTORS.map((d) => [`E2E.${d}`, 'completed', 0]));
    expect(finished.jobs.find((j) => j.key === 'E2E.delayed')?.runnerJobId).toBe(heldId);

    // sbatch once per job, counted in the wrappers' log; the third found again by its name.
    const sbatches = wrappers.calls('sbatch').filter((line) => line.includes(`--job-name=daqflow-${started.id}-`));
    expect(sbatches).toHaveLength(DETECTORS.length);
    for (const detector of DETECTORS) {
      expect(sbatches.filter((line) => line.includes(`--job-name=${jobName(detector)} `)), detector).toHaveLength(1);
    }
    expect(wrappers.calls('squeue').some((line) => line.includes(`-n ${jobName('delayed')}`))).toBe(true);
    expect(wrappers.calls('scancel')).toEqual([]);
    const events = await reportEvents(started.id);
    expect(events.filter((e) => e.type === 'jobSubmitted').map((e) => e.data)).toEqual([
      expect.objectContaining({ jobKey: expect.toBeOneOf(['E2E.first', 'E2E.second']), found: false }),
      expect.objectContaining({ jobKey: expect.toBeOneOf(['E2E.first', 'E2E.second']), found: false }),
      { jobKey: 'E2E.delayed', runnerJobId: heldId, found: true },
    ]);

    // Every job's file is in the published report; the status row agrees.
    const published = join(dataRoot, 'reports', started.id);
    expect(finished.published?.dir).toBe(published);
    for (const detector of DETECTORS) expect(readFileSync(join(published, `${detector}.txt`), 'utf8')).toBe(`${detector} done\n`);
    const row = await client.untilFinalStatusRow(started.id, 10_000);
    expect(row.state).toBe('completed');
    expect(row.summary.jobs?.map((j) => [j.key, j.state, j.runnerJobId])).toEqual(finished.jobs.map((j) => [j.key, j.state, j.runnerJobId]));
    up.kill('SIGTERM');
    await up.exited;
  }, 120_000);

  it('killed while every job is recorded and running: the restart polls at once, the report completes, no job submitted twice', async () => {
    if (!client) throw new Error('no client');
    let up: DaqflowProcess = await startDaqflowProcess({ env });
    const started = await client.start({ mode: 'local', instruments: ['RUN'], requestId: 'crash-running' });
    reportIds.push(started.id);
    const jobName = (detector: string): string => `daqflow-${started.id}-RUN.${detector}`;
    let seen: ReportView | undefined;
    await waitFor(
      () => `every job recorded, one polled as running; last seen ${JSON.stringify(seen)}`,
      async () => {
        seen = await client?.get(started.id);
        const jobs = seen?.jobs ?? [];
        return jobs.length === 3 && jobs.every((j) => j.runnerJobId !== null) && jobs.some((j) => j.state === 'running') ? true : undefined;
      },
      30_000,
      250,
    );
    up.kill('SIGKILL');
    await up.exited;
    const atKill = await reportEvents(started.id);
    expect(atKill.at(-1)?.state).toBe('running');
    expect(atKill.filter((e) => e.type === 'jobStatus' && ['completed', 'failed'].includes((e.data as { state: string }).state))).toHaveLength(0);

    up = await startDaqflowProcess({ env });
    const finished = await client.untilFinal(started.id, 60_000);
    expect(finished.state, finished.error).toBe('completed');
    expect(finished.jobs.map((j) => [j.key, j.state, j.exitCode])).toEqual(RUN_DETECTORS.map((d) => [`RUN.${d}`, 'completed', 0]));
    const sbatches = wrappers.calls('sbatch').filter((line) => line.includes(`--job-name=daqflow-${started.id}-`));
    expect(sbatches).toHaveLength(RUN_DETECTORS.length);
    for (const detector of RUN_DETECTORS) {
      expect(sbatches.filter((line) => line.includes(`--job-name=${jobName(detector)} `)), detector).toHaveLength(1);
    }
    const events = await reportEvents(started.id);
    expect(events.filter((e) => e.type === 'jobSubmitted').map((e) => (e.data as { found: boolean }).found)).toEqual([false, false, false]);
    const published = join(dataRoot, 'reports', started.id);
    for (const detector of RUN_DETECTORS) expect(readFileSync(join(published, `${detector}.txt`), 'utf8')).toBe(`${detector} done\n`);
    const row = await client.untilFinalStatusRow(started.id, 10_000);
    expect(row.summary.jobs?.map((j) => j.state)).toEqual(['completed', 'completed', 'completed']);
    up.kill('SIGTERM');
    await up.exited;
  }, 120_000);
});
