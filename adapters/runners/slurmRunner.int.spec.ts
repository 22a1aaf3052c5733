/**
 * The Slurm runner against a real single-node Slurm (test/harness/slurmCluster.ts). The Slurm
 * commands are wrapped in scripts that count their calls, as the report actor's crash test will.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSlurmCluster, type SlurmCluster } from '../../test/harness/slurmCluster.js';
import { isTerminal, type JobRef, type JobSpec, type JobStatus } from './jobRunner.js';
import { SlurmRunner } from './slurmRunner.js';

let cluster: SlurmCluster;
let dir: string;
let runner: SlurmRunner;
const unique = `${process.pid}-${Date.now().toString(36)}`;

const countingWrapper = (command: string): string => {
  const path = join(dir, command);
  writeFileSync(path, `#!/bin/sh\necho "$*" >> ${join(dir, `${command}.calls`)}\nexec ${command} "$@"\n`, { mode: 0o755 });
  return path;
};
const callsOf = (command: string): string[] => {
  try {
    return readFileSync(join(dir, `${command}.calls`), 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

const spec = (key: string, command: string[], extra: Partial<JobSpec> = {}): JobSpec => ({
  name: `daqflow-test-${unique}-${key}`,
  command,
  workDir: join(dir, 'work', key),
  stdoutPath: join(dir, 'out', `${key}.out`),
  stderrPath: join(dir, 'out', `${key}.err`),
  exitMarkerPath: join(dir, 'out', `${key}.exit`),
  ...extra,
});

const waitFor = async (
  ref: JobRef,
  done: (status: JobStatus) => boolean,
  timeoutMs = 20_000,
  using: SlurmRunner = runner,
): Promise<JobStatus> => {
  const deadline = Date.now() + timeoutMs;
  let status = await using.poll(ref);
  while (!done(status)) {
    if (Date.now() > deadline) throw new Error(`job ${ref.jobId} still ${JSON.stringify(status)} after ${timeoutMs} ms`);
    await sleep(150);
    status = await using.poll(ref);
  }
  return status;
};
const ended = (status: JobStatus): boolean => isTerminal(status.state);

let unavailable: string | undefined;
// No skip: on a machine that cannot run Slurm every test fails and says why.
const needCluster = (): void => {
  if (unavailable) throw new Error(unavailable);
};

beforeAll(async () => {
  const started = await startSlurmCluster();
  if (!started.ok) {
    unavailable = started.reason;
    return;
  }
  cluster = started.cluster;
  dir = mkdtempSync(join(tmpdir(), 'daqflow-slurm-runner-'));
  runner = new SlurmRunner({
    env: cluster.env,
    sbatchPath: countingWrapper('sbatch'),
    squeuePath: countingWrapper('squeue'),
    scancelPath: countingWrapper('scancel'),
  });
});

afterAll(async () => {
  // A failed test may leave its jobs in the cluster, which other spec files may share.
  if (cluster) {
    const env = { ...process.env, ...cluster.env };
    const listed = execFileSync('squeue', ['-h', '-o', '%i %j'], { env, encoding: 'utf8' });
    const ours = listed
      .split('\n')
      .filter((line) => line.includes(` daqflow-test-${unique}-`))
      .map((line) => line.split(' ')[0] ?? '');
    if (ours.length > 0) execFileSync('scancel', ours, { env });
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
  await cluster?.release();
});

describe('SlurmRunner on a real single-node Slurm', () => {
  beforeEach(needCluster);

  it('a job that succeeds is completed with exit code 0, its output in place', async () => {
    const job = spec('ok', ['bash', '-c', 'echo "hello $DAQ_WHO from $(pwd)"; echo oops >&2'], { env: { DAQ_WHO: 'report' } });
    const ref = await runner.submit(job);
    expect(ref.jobId).toMatch(/^\d+$/);
    const status = await waitFor(ref, ended);
    expect(status).toEqual({ state: 'completed', slurmState: 'COMPLETED', exitCode: 0 });
    expect(readFileSync(job.stdoutPath, 'utf8')).toBe(`hello report from ${job.workDir}\n`);
    expect(readFileSync(job.stderrPath, 'utf8')).toBe('oops\n');
    expect(JSON.parse(readFileSync(job.exitMarkerPath, 'utf8'))).toEqual({ jobId: ref.jobId, exitCode: 0 });
  });

  it('a job that exits non-zero is failed, with its exit code', async () => {
    const ref = await runner.submit(spec('fail', ['bash', '-c', 'exit 3']));
    expect(await waitFor(ref, ended)).toEqual({
      state: 'failed',
      slurmState: 'FAILED',
      exitCode: 3,
      failure: 'exit_code',
      reason: 'exited with code 3',
    });
  });

  it('a job that outlives its timeout is cancelled by the caller and ends timed_out', async () => {
    const job = spec('slow', ['bash', '-c', 'echo started; exec sleep 60']);
    const ref = await runner.submit(job);
    await waitFor(ref, (s) => s.state === 'running');
    // Slurm says RUNNING before the command has started; cancelled before it, there is no signal
    // to exit on (exit code null, seen in a CI run), so the cancel waits for the command itself.
    const deadline = Date.now() + 20_000;
    const started = (): boolean => {
      try {
        return readFileSync(job.stdoutPath, 'utf8').includes('started');
      } catch {
        return false;
      }
    };
    while (!started()) {
      if (Date.now() > deadline) throw new Error(`the command of job ${ref.jobId} did not start within 20 s`);
      await sleep(100);
    }
    const scancels = callsOf('scancel').length;
    // The actor's timeout: it owns the clock and cancels.
    await runner.cancel(ref, { reason: 'timeout' });
    const status = await waitFor(ref, ended, 10_000);
    expect(status).toMatchObject({ state: 'timed_out', slurmState: 'CANCELLED', exitCode: 143 });
    expect(callsOf('scancel').length).toBe(scancels + 1);
    // A second cancel of the ended job calls nothing.
    await runner.cancel(ref, { reason: 'timeout' });
    expect(callsOf('scancel').length).toBe(scancels + 1);
  });

  it('findByName finds a submitted job, so a recovering actor does not submit it again', async () => {
    const job = spec('find', ['sleep', '2']);
    const before = callsOf('sbatch').length;
    const ref = await runner.submit(job);
    const recovering = new SlurmRunner({ env: cluster.env });
    expect(await recovering.findByName(job)).toEqual(ref);
    expect(await recovering.findByName(spec('never-submitted', ['true']))).toBeNull();
    expect((await waitFor(ref, ended, 20_000, recovering)).state).toBe('completed');
    expect(callsOf('sbatch').length).toBe(before + 1);
  });

  it('cancel of a pending job: it never runs and is cancelled', async () => {
    // --hold keeps it pending whatever the node is doing.
    const held = new SlurmRunner({ env: cluster.env, sbatchArgs: ['--hold'] });
    const job = spec('held', ['bash', '-c', 'echo ran']);
    const ref = await held.submit(job);
    expect(await held.poll(ref)).toMatchObject({ state: 'pending', slurmState: 'PENDING', reason: 'JobHeldUser' });
    await held.cancel(ref);
    expect(await waitFor(ref, ended, 10_000, held)).toMatchObject({ state: 'cancelled', slurmState: 'CANCELLED', exitCode: null });
    expect(() => readFileSync(job.stdoutPath, 'utf8')).toThrow();
  });

  it('a command that does not exist is failed with bash’s 127', async () => {
    const ref = await runner.submit(spec('missing', ['/no/such/program']));
    expect(await waitFor(ref, ended)).toMatchObject({ state: 'failed', exitCode: 127, failure: 'exit_code' });
  });
});
