import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isJobRunnerError } from './errors.js';
import { describeExit, readCancelNote, readExitMarker, statusFromMarker, wrapperScript, writeCancelNote, type CancelNote } from './exitMarker.js';
import type { JobSpec } from './jobRunner.js';
import { checkJobSpec, jobName } from './jobSpec.js';

const note = (reason: CancelNote['reason']): CancelNote => ({ reason, at: '2026-01-01T00:00:00.000Z' });

describe('statusFromMarker', () => {
  it('exit 0 is completed, even when a cancel came too late', () => {
    expect(statusFromMarker({ jobId: '1', exitCode: 0 }, note('timeout'))).toEqual({ state: 'completed', exitCode: 0 });
  });

  it('a non-zero exit is failed with the exit code', () => {
    expect(statusFromMarker({ jobId: '1', exitCode: 3 }, null)).toEqual({
      state: 'failed',
      exitCode: 3,
      failure: 'exit_code',
      reason: 'exited with code 3',
    });
  });

  it('death by a signal after daqflow cancelled is timed_out or cancelled, as the note says', () => {
    expect(statusFromMarker({ jobId: '1', exitCode: 143 }, note('timeout')).state).toBe('timed_out');
    expect(statusFromMarker({ jobId: '1', exitCode: 143 }, note('requested')).state).toBe('cancelled');
    expect(statusFromMarker({ jobId: '1', exitCode: 143 }, null).state).toBe('failed');
  });

  it('an exit of its own before the cancel arrived stays a failure', () => {
    expect(statusFromMarker({ jobId: '1', exitCode: 2 }, note('timeout')).state).toBe('failed');
  });

  it('names the signal of a 128 + n exit code', () => {
    expect(describeExit(137)).toBe('killed by SIGKILL (exit code 137)');
    expect(describeExit(1)).toBe('exited with code 1');
  });
});

describe('the wrapper script', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'daqflow-wrapper-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const spec = (command: string[], env: Record<string, string> = {}): JobSpec => ({
    name: 'w',
    command,
    workDir: dir,
    env,
    stdoutPath: join(dir, 'out'),
    stderrPath: join(dir, 'err'),
    exitMarkerPath: join(dir, 'exit marker.json'),
  });

  it('passes every argument verbatim, exports env, and writes the exit code to the marker', async () => {
    const args = ["it's", 'a "b" $HOME `x` \\n', '', 'line\nbreak', '*'];
    const script = wrapperScript(spec(['bash', '-c', 'printf "%s|" "$@"; printf "%s" "$DAQ_X"; exit 7', 'argv0', ...args], { DAQ_X: "y'z $PATH" }), "'job-1'");
    writeFileSync(join(dir, 'job.sh'), script);
    let output = '';
    let status = 0;
    try {
      output = execFileSync('bash', [join(dir, 'job.sh')], { cwd: dir, encoding: 'utf8' });
    } catch (e) {
      status = (e as { status: number }).status;
      output = (e as { stdout: string }).stdout;
    }
    expect(status).toBe(7);
    expect(output).toBe(`${args.join('|')}|y'z $PATH`);
    expect(await readExitMarker(join(dir, 'exit marker.json'))).toEqual({ jobId: 'job-1', exitCode: 7 });
  });

  it('reads a missing or garbled marker as none', async () => {
    expect(await readExitMarker(join(dir, 'none'))).toBeNull();
    writeFileSync(join(dir, 'half'), '{"jobId":"1","exi');
    expect(await readExitMarker(join(dir, 'half'))).toBeNull();
  });

  it('keeps the cancel note beside the marker', async () => {
    const marker = join(dir, 'sub', 'exit.json');
    expect(await readCancelNote(marker)).toBeNull();
    await writeCancelNote(marker, 'timeout');
    expect(await readCancelNote(marker)).toMatchObject({ reason: 'timeout' });
    expect(JSON.parse(readFileSync(`${marker}.cancel`, 'utf8'))).toMatchObject({ reason: 'timeout' });
  });
});

describe('job specs', () => {
  it('jobName is deterministic and safe', () => {
    expect(jobName('r-1', 'SwissFEL/BPM 1')).toBe('daqflow-r-1-SwissFEL_BPM_1');
    expect(jobName('r-1', 'x', 2)).toBe('daqflow-r-1-x-2');
  });

  it('checkJobSpec names the bad field', () => {
    const good: JobSpec = { name: 'a', command: ['true'], workDir: '/w', stdoutPath: '/o', stderrPath: '/e', exitMarkerPath: '/x' };
    expect(() => checkJobSpec(good)).not.toThrow();
    const problems: [Partial<JobSpec>, RegExp][] = [
      [{ name: 'a,b' }, /name/],
      [{ command: [] }, /command/],
      [{ workDir: 'rel' }, /workDir/],
      [{ exitMarkerPath: '/a\\b' }, /exitMarkerPath/],
      [{ env: { 'A-B': '1' } }, /A-B/],
      [{ timeLimitSeconds: 0 }, /timeLimitSeconds/],
    ];
    for (const [change, message] of problems) {
      let caught: unknown;
      try {
        checkJobSpec({ ...good, ...change });
      } catch (e) {
        caught = e;
      }
      expect(isJobRunnerError(caught) && caught.reason === 'BAD_SPEC', JSON.stringify(change)).toBe(true);
      expect((caught as Error).message).toMatch(message);
    }
  });
});
