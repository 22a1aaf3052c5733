/**
 * The Slurm runner against scripted sbatch/squeue/scancel/sacct stand-ins: the states a single
 * node cannot produce, jobs that have left squeue, and the ways the Slurm commands fail.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSlurmStandIns, type SlurmStandIns } from '../../test/fakes/slurmStandIns/slurmStandIns.js';
import { JobRunnerError, type JobRunnerFailure } from './errors.js';
import type { JobSpec } from './jobRunner.js';
import { SlurmRunner, type SlurmRunnerOptions } from './slurmRunner.js';

let standIns: SlurmStandIns;
let clock: number;

const runner = (options: SlurmRunnerOptions = {}): SlurmRunner =>
  new SlurmRunner({ ...standIns.runnerOptions, sacctPath: undefined, now: () => clock, ...options });

const spec = (name: string, command: string[] = ['true'], extra: Partial<JobSpec> = {}): JobSpec => ({
  name,
  command,
  workDir: join(standIns.dir, 'work'),
  stdoutPath: join(standIns.dir, 'out', `${name}.out`),
  stderrPath: join(standIns.dir, 'out', `${name}.err`),
  exitMarkerPath: join(standIns.dir, 'out', `${name}.exit`),
  ...extra,
});

const rejection = async (promise: Promise<unknown>): Promise<JobRunnerError> => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(JobRunnerError);
  return error as JobRunnerError;
};

beforeEach(() => {
  standIns = createSlurmStandIns();
  clock = 1_000_000;
});
afterEach(() => standIns.remove());

describe('states a single node cannot produce', () => {
  it.each([
    ['OUT_OF_MEMORY:OutOfMemory', 'out_of_memory', /out of memory/],
    ['NODE_FAIL:NodeDown', 'infrastructure', /node failure/],
    ['PREEMPTED:None', 'preempted', /preempted/],
    ['BOOT_FAIL:None', 'infrastructure', /boot/],
  ] as const)('%s ends as failed (%s)', async (token, failure, reason) => {
    standIns.plan(`PENDING:Priority RUNNING:None ${token}`);
    const slurm = runner();
    const ref = await slurm.submit(spec('oom'));
    expect(ref.jobId).toBe('101');
    expect(await slurm.poll(ref)).toEqual({ state: 'pending', slurmState: 'PENDING', reason: 'Priority' });
    expect(await slurm.poll(ref)).toEqual({ state: 'running', slurmState: 'RUNNING' });
    const status = await slurm.poll(ref);
    expect(status).toMatchObject({ state: 'failed', failure, slurmState: token.split(':')[0], exitCode: null });
    expect(status.reason).toMatch(reason);
    expect(standIns.count('sbatch')).toBe(1);
    expect(standIns.count('squeue')).toBe(3);
  });

  it('a job that has left squeue is resolved from its exit marker', async () => {
    standIns.plan('RUNNING:None run GONE', 'RUNNING:None run GONE');
    const slurm = runner();
    const failing = await slurm.submit(spec('gone-failing', ['bash', '-c', 'echo to-out; echo to-err >&2; exit 5']));
    expect((await slurm.poll(failing)).state).toBe('running');
    expect(await slurm.poll(failing)).toEqual({ state: 'failed', exitCode: 5, failure: 'exit_code', reason: 'exited with code 5' });
    expect(readFileSync(join(standIns.dir, 'out', 'gone-failing.out'), 'utf8')).toBe('to-out\n');
    expect(readFileSync(join(standIns.dir, 'out', 'gone-failing.err'), 'utf8')).toBe('to-err\n');

    const succeeding = await slurm.submit(spec('gone-ok'));
    await slurm.poll(succeeding);
    expect(await slurm.poll(succeeding)).toEqual({ state: 'completed', exitCode: 0 });
  });

  it('with sacct, a job that has left squeue gets its real state from accounting', async () => {
    standIns.plan('GONE');
    const slurm = runner({ sacctPath: standIns.runnerOptions.sacctPath });
    const ref = await slurm.submit(spec('acct'));
    standIns.accounting(ref.jobId, `${ref.jobId}|OUT_OF_MEMORY|0:125`);
    expect(await slurm.poll(ref)).toMatchObject({ state: 'failed', failure: 'out_of_memory', slurmState: 'OUT_OF_MEMORY' });
    expect(standIns.count('sacct')).toBe(1);
  });

  it('a job gone without a marker is unknown for the grace period, then failed as lost', async () => {
    standIns.plan('GONE');
    const slurm = runner({ lostAfterMs: 10_000 });
    const ref = await slurm.submit(spec('lost'));
    expect(await slurm.poll(ref)).toMatchObject({ state: 'unknown', exitCode: null });
    clock += 9_999;
    expect((await slurm.poll(ref)).state).toBe('unknown');
    clock += 1;
    const status = await slurm.poll(ref);
    expect(status).toMatchObject({ state: 'failed', failure: 'lost', exitCode: null });
    expect(status.reason).toContain(ref.exitMarkerPath);
  });

  it('an unknown Slurm state is unknown, not a guess', async () => {
    standIns.plan('SOMETHING_NEW:None');
    const slurm = runner();
    const ref = await slurm.submit(spec('new-state'));
    expect(await slurm.poll(ref)).toMatchObject({ state: 'unknown', slurmState: 'SOMETHING_NEW' });
  });
});

describe('submitting', () => {
  it('passes name, folders, files, time limit and --no-requeue to sbatch, and the wrapper on stdin', async () => {
    const slurm = runner({ sbatchArgs: ['--partition=reports'] });
    const job = spec('args', ['echo', 'hi'], { timeLimitSeconds: 90, stdoutPath: join(standIns.dir, 'out', '100%.out') });
    await slurm.submit(job);
    const [call] = standIns.calls();
    expect(call).toBe(
      `sbatch --parsable --job-name=args --chdir=${job.workDir} --output=${join(standIns.dir, 'out', '100%%.out')} ` +
        `--error=${job.stderrPath} --no-requeue --time=1:30 --partition=reports`,
    );
    const script = readFileSync(join(standIns.dir, 'jobs', '101', 'script'), 'utf8');
    expect(script).toContain("'echo' 'hi'");
    expect(script).toContain('"$SLURM_JOB_ID"');
  });

  it('reads "<id>;<cluster>" from a multi-cluster sbatch', async () => {
    standIns.cluster('west');
    expect((await runner().submit(spec('clustered'))).jobId).toBe('101');
  });

  it('removes the marker and cancel note of an earlier job of the same paths', async () => {
    const job = spec('again');
    standIns.plan('GONE', 'GONE');
    const slurm = runner({ lostAfterMs: 0 });
    await slurm.submit(job);
    // As if the first job had been cancelled for its timeout, with the id the second one gets.
    writeFileSync(job.exitMarkerPath, '{"jobId":"102","exitCode":143}');
    writeFileSync(`${job.exitMarkerPath}.cancel`, '{"reason":"timeout","at":"x"}');
    const second = await slurm.submit(job);
    expect(second.jobId).toBe('102');
    expect(await slurm.poll(second)).toMatchObject({ state: 'failed', failure: 'lost' });
  });

  it.each([
    ['sbatch: error: Batch job submission failed: Invalid partition name specified', 1, 'SUBMIT_REJECTED', false],
    ['sbatch: error: Invalid --time specification', 255, 'SUBMIT_REJECTED', false],
    ['sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)', 1, 'SCHEDULER_UNAVAILABLE', true],
  ] as const)('sbatch failing with %j is %s', async (stderr, exitCode, reason: JobRunnerFailure, retryable) => {
    standIns.fail('sbatch', stderr, exitCode);
    const error = await rejection(runner().submit(spec('rejected')));
    expect(error.reason).toBe(reason);
    expect(error.retryable).toBe(retryable);
    expect(error.message).toContain(stderr);
    expect(error.details).toMatchObject({ command: 'sbatch', exitCode, stderr, jobName: 'rejected' });
  });

  it('a missing sbatch is EXECUTABLE_NOT_FOUND', async () => {
    const error = await rejection(runner({ sbatchPath: join(standIns.dir, 'no-such-sbatch') }).submit(spec('missing')));
    expect(error.reason).toBe('EXECUTABLE_NOT_FOUND');
    expect(error.message).toContain('no-such-sbatch');
  });

  it('an sbatch that prints no job id is BAD_OUTPUT', async () => {
    const chatty = join(standIns.dir, 'chatty-sbatch');
    writeFileSync(chatty, '#!/bin/sh\ncat >/dev/null\necho "Submitted batch job 7"\n', { mode: 0o755 });
    const error = await rejection(runner({ sbatchPath: chatty }).submit(spec('chatty')));
    expect(error.reason).toBe('BAD_OUTPUT');
    expect(error.message).toContain('Submitted batch job 7');
  });

  it('an sbatch that hangs is SCHEDULER_UNAVAILABLE after the command timeout', async () => {
    const hanging = join(standIns.dir, 'hanging-sbatch');
    writeFileSync(hanging, '#!/bin/sh\nexec sleep 30\n', { mode: 0o755 });
    const error = await rejection(runner({ sbatchPath: hanging, commandTimeoutMs: 300 }).submit(spec('hang')));
    expect(error.reason).toBe('SCHEDULER_UNAVAILABLE');
  });

  it('a bad spec never reaches sbatch', async () => {
    const error = await rejection(runner().submit(spec('a b')));
    expect(error.reason).toBe('BAD_SPEC');
    expect(standIns.count('sbatch')).toBe(0);
  });
});

describe('polling and cancelling', () => {
  it('a controller that does not answer makes poll throw a retryable error', async () => {
    const slurm = runner();
    const ref = await slurm.submit(spec('down'));
    standIns.fail('squeue', 'slurm_load_jobs error: Unable to contact slurm controller (connect failure)');
    const error = await rejection(slurm.poll(ref));
    expect(error).toMatchObject({ reason: 'SCHEDULER_UNAVAILABLE', retryable: true });
    standIns.fail('squeue', undefined);
    expect((await slurm.poll(ref)).state).toBe('pending');
  });

  it('cancel for the timeout calls scancel once and the job ends timed_out', async () => {
    standIns.plan('RUNNING:None');
    const slurm = runner();
    const ref = await slurm.submit(spec('slow'));
    await slurm.cancel(ref, { reason: 'timeout' });
    expect(standIns.calls()).toContain(`scancel ${ref.jobId}`);
    expect(await slurm.poll(ref)).toMatchObject({ state: 'timed_out', slurmState: 'CANCELLED' });
    // Read again by a runner started after a crash: the note is on disk, not in memory.
    expect((await runner().poll(ref)).state).toBe('timed_out');
    expect(standIns.count('scancel')).toBe(1);
  });

  it('cancel of a job that has ended does nothing', async () => {
    standIns.plan('run done');
    const slurm = runner();
    const ref = await slurm.submit(spec('finished'));
    expect((await slurm.poll(ref)).state).toBe('completed');
    await slurm.cancel(ref, { reason: 'timeout' });
    expect(standIns.count('scancel')).toBe(0);
    expect((await slurm.poll(ref)).state).toBe('completed');
  });

  it('a cancelled job that has left squeue is still cancelled', async () => {
    standIns.plan('PENDING:Priority GONE');
    const slurm = runner({ lostAfterMs: 0 });
    const ref = await slurm.submit(spec('cancel-then-gone'));
    await slurm.cancel(ref);
    expect(await slurm.poll(ref)).toMatchObject({ state: 'cancelled', exitCode: null });
  });

  it('scancel failing for another reason throws with its stderr', async () => {
    standIns.plan('RUNNING:None');
    const slurm = runner();
    const ref = await slurm.submit(spec('stubborn'));
    standIns.fail('scancel', 'scancel: error: Kill job error on job id 101: Access/permission denied');
    const error = await rejection(slurm.cancel(ref));
    expect(error.reason).toBe('COMMAND_FAILED');
    expect(error.message).toContain('Access/permission denied');
  });
});

describe('findByName, for an actor recovering after a crash', () => {
  it('finds the job in squeue, prefers the live one, and never submits', async () => {
    standIns.plan('run done', 'RUNNING:None', 'RUNNING:None');
    const slurm = runner();
    await slurm.submit(spec('report-a'));
    const live = await slurm.submit(spec('report-a'));
    const other = await slurm.submit(spec('report-b'));
    const recovered = runner();
    expect(await recovered.findByName(spec('report-a'))).toEqual(live);
    expect(await recovered.findByName(spec('report-b'))).toEqual(other);
    expect(await recovered.findByName(spec('report-c'))).toBeNull();
    expect(standIns.count('sbatch')).toBe(3);
    expect(standIns.calls()).toContain(`squeue -h -t all -u ${process.env.USER ?? 'root'} -n report-a -o %i|%T`);
  });

  it('finds a job that has left squeue by the id in its marker', async () => {
    standIns.plan('run GONE');
    const slurm = runner();
    const ref = await slurm.submit(spec('left'));
    expect((await slurm.poll(ref)).state).toBe('completed');
    expect(await runner().findByName(spec('left'))).toEqual(ref);
  });
});
