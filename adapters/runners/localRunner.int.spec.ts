/**
 * The local runner with real child processes: exit codes, the concurrency limit, cancel (also
 * of children that ignore SIGTERM), and a runner started after the first one's process ended,
 * which polls, cancels and starts the jobs the first one left.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobRunnerError } from './errors.js';
import { isTerminal, type JobRef, type JobSpec, type JobStatus } from './jobRunner.js';
import { LocalRunner } from './localRunner.js';

let dir: string;
let stateDir: string;

const spec = (name: string, command: string[], extra: Partial<JobSpec> = {}): JobSpec => ({
  name,
  command,
  workDir: join(dir, 'work', name),
  stdoutPath: join(dir, 'out', `${name}.out`),
  stderrPath: join(dir, 'out', `${name}.err`),
  exitMarkerPath: join(dir, 'out', `${name}.exit`),
  ...extra,
});

const waitFor = async (runner: LocalRunner, ref: JobRef, done: (s: JobStatus) => boolean, timeoutMs = 10_000): Promise<JobStatus> => {
  const deadline = Date.now() + timeoutMs;
  let status = await runner.poll(ref);
  while (!done(status)) {
    if (Date.now() > deadline) throw new Error(`${ref.jobId} still ${JSON.stringify(status)} after ${timeoutMs} ms`);
    await sleep(50);
    status = await runner.poll(ref);
  }
  return status;
};
const ended = (s: JobStatus): boolean => isTerminal(s.state);

const processAlive = (pid: number): boolean => {
  try {
    return !/^State:\s*Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'daqflow-local-runner-'));
  stateDir = join(dir, 'state');
});
afterEach(() => {
  // A failed test may leave jobs running: end their process groups before removing their files.
  for (const name of existsSync(stateDir) ? readdirSync(stateDir) : []) {
    try {
      const { pid } = JSON.parse(readFileSync(join(stateDir, name, 'process.json'), 'utf8')) as { pid: number };
      process.kill(-pid, 'SIGKILL');
    } catch {
      // never started, or already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('LocalRunner', () => {
  it('a job that succeeds: completed, exit 0, output, env and working folder as given', async () => {
    const runner = new LocalRunner({ stateDir });
    const job = spec('ok', ['bash', '-c', 'echo "$1 $DAQ_X $(pwd)"; echo warn >&2', 'argv0', "it's here"], { env: { DAQ_X: 'x y' } });
    const ref = await runner.submit(job);
    expect(ref).toEqual({ jobId: 'ok', exitMarkerPath: job.exitMarkerPath });
    expect(await waitFor(runner, ref, ended)).toEqual({ state: 'completed', exitCode: 0 });
    expect(readFileSync(job.stdoutPath, 'utf8')).toBe(`it's here x y ${job.workDir}\n`);
    expect(readFileSync(job.stderrPath, 'utf8')).toBe('warn\n');
  });

  it('a job that exits non-zero: failed with its exit code', async () => {
    const runner = new LocalRunner({ stateDir });
    const ref = await runner.submit(spec('fail', ['bash', '-c', 'exit 4']));
    expect(await waitFor(runner, ref, ended)).toEqual({ state: 'failed', exitCode: 4, failure: 'exit_code', reason: 'exited with code 4' });
  });

  it('runs at most maxConcurrent jobs at once; the others wait as pending', async () => {
    const runner = new LocalRunner({ stateDir, maxConcurrent: 2 });
    const log = join(dir, 'times');
    // Each job logs its start and end in ms; a job starts only when a slot is free.
    const body = `echo "start $(date +%s%3N)" >> ${log}.$1; sleep 0.4; echo "end $(date +%s%3N)" >> ${log}.$1`;
    const refs = [];
    for (let i = 0; i < 5; i++) refs.push(await runner.submit(spec(`c${i}`, ['bash', '-c', body, 'argv0', String(i)])));
    const states = await Promise.all(refs.map(async (ref) => (await runner.poll(ref)).state));
    expect(states.filter((s) => s === 'running')).toHaveLength(2);
    expect(states.filter((s) => s === 'pending')).toHaveLength(3);
    for (const ref of refs) expect((await waitFor(runner, ref, ended)).state).toBe('completed');
    const spans = refs.map((_, i) => {
      const [start, end] = readFileSync(`${log}.${i}`, 'utf8')
        .trim()
        .split('\n')
        .map((line) => Number(line.split(' ')[1]));
      return { start: start ?? 0, end: end ?? 0 };
    });
    const mostAtOnce = Math.max(...spans.map((a) => spans.filter((b) => b.start <= a.start && a.start < b.end).length));
    expect(mostAtOnce).toBe(2);
  });

  it('cancel kills the whole process group, and the job is cancelled', async () => {
    const runner = new LocalRunner({ stateDir });
    const childPid = join(dir, 'child.pid');
    const ref = await runner.submit(spec('cancel', ['bash', '-c', `sleep 300 & echo $! > ${childPid}; wait`]));
    await waitFor(runner, ref, () => existsSync(childPid) && readFileSync(childPid, 'utf8').endsWith('\n'));
    const pid = Number(readFileSync(childPid, 'utf8'));
    expect(processAlive(pid)).toBe(true);
    await runner.cancel(ref);
    expect(await runner.poll(ref)).toMatchObject({ state: 'cancelled', exitCode: 143 });
    expect(processAlive(pid)).toBe(false);
  });

  it('cancel for the timeout: a command that ignores SIGTERM gets SIGKILL, and the job is timed_out', async () => {
    const runner = new LocalRunner({ stateDir, killWaitMs: 300 });
    // The trap must be set before the cancel: a loaded runner may not have got that far when the job shows as running.
    const trapped = join(dir, 'trapped');
    const ref = await runner.submit(spec('stubborn', ['bash', '-c', `trap "" TERM; touch ${trapped}; sleep 300`]));
    await waitFor(runner, ref, (s) => s.state === 'running' && existsSync(trapped));
    const started = Date.now();
    await runner.cancel(ref, { reason: 'timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(await runner.poll(ref)).toMatchObject({ state: 'timed_out', exitCode: null });
  });

  it('cancel of a pending job: it never starts', async () => {
    const runner = new LocalRunner({ stateDir, maxConcurrent: 1 });
    const first = await runner.submit(spec('first', ['sleep', '0.3']));
    const second = spec('second', ['bash', '-c', 'echo ran']);
    const ref = await runner.submit(second);
    expect((await runner.poll(ref)).state).toBe('pending');
    await runner.cancel(ref);
    await waitFor(runner, first, ended);
    expect(await runner.poll(ref)).toMatchObject({ state: 'cancelled', exitCode: null });
    expect(existsSync(second.stdoutPath)).toBe(false);
  });

  it('a job killed with SIGKILL from outside is failed as lost', async () => {
    const runner = new LocalRunner({ stateDir });
    const ref = await runner.submit(spec('killed', ['sleep', '300']));
    const { pid } = JSON.parse(readFileSync(join(stateDir, 'killed', 'process.json'), 'utf8')) as { pid: number };
    process.kill(-pid, 'SIGKILL');
    expect(await waitFor(runner, ref, ended)).toMatchObject({ state: 'failed', failure: 'lost', exitCode: null });
  });

  it('findByName finds a submitted job; a second submit of the name is refused', async () => {
    const runner = new LocalRunner({ stateDir });
    const job = spec('named', ['true']);
    const ref = await runner.submit(job);
    expect(await new LocalRunner({ stateDir }).findByName(job)).toEqual(ref);
    expect(await runner.findByName(spec('other', ['true']))).toBeNull();
    await expect(runner.submit(job)).rejects.toMatchObject({ reason: 'DUPLICATE_JOB' });
    await expect(runner.poll({ jobId: 'nope', exitMarkerPath: '/x' })).rejects.toBeInstanceOf(JobRunnerError);
    await expect(runner.poll({ jobId: '../escape', exitMarkerPath: '/x' })).rejects.toMatchObject({ reason: 'UNKNOWN_JOB' });
  });

  it('a runner started after the first one exited polls, cancels and starts the jobs it left', async () => {
    const runnerModule = fileURLToPath(new URL('./localRunner.ts', import.meta.url));
    const jobs = [
      spec('survivor', ['bash', '-c', 'sleep 0.8; exit 6']),
      spec('to-cancel', ['sleep', '300']),
      spec('queued', ['bash', '-c', 'echo started-by-the-second-runner']),
    ];
    // The first runner lives in its own process, which ends right after submitting: a restart.
    const script = `
      import { LocalRunner } from ${JSON.stringify(runnerModule)};
      const runner = new LocalRunner({ stateDir: ${JSON.stringify(stateDir)}, maxConcurrent: 2 });
      for (const job of ${JSON.stringify(jobs)}) await runner.submit(job);
    `;
    await new Promise<void>((resolve, reject) =>
      execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], (error, _stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(),
      ),
    );
    const second = new LocalRunner({ stateDir, maxConcurrent: 2 });
    const [survivor, toCancel, queued] = await Promise.all(jobs.map(async (job) => (await second.findByName(job)) as JobRef));
    expect(survivor && toCancel && queued).toBeTruthy();
    expect((await second.poll(toCancel!)).state).toBe('running');
    await second.cancel(toCancel!);
    expect((await second.poll(toCancel!)).state).toBe('cancelled');
    expect(await waitFor(second, survivor!, ended)).toMatchObject({ state: 'failed', exitCode: 6 });
    expect(await waitFor(second, queued!, ended)).toEqual({ state: 'completed', exitCode: 0 });
    expect(readFileSync(jobs[2]!.stdoutPath, 'utf8')).toBe('started-by-the-second-runner\n');
  });
});
