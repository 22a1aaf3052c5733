/**
 * Scripted stand-ins for sbatch, squeue, scancel and sacct (the bash scripts beside this file),
 * for the states a single node cannot produce: OUT_OF_MEMORY, NODE_FAIL, PREEMPTED, a job that
 * has left squeue, a controller that does not answer. Each instance keeps its state in its own
 * folder, passed to the scripts as SLURM_STANDIN_DIR through the runner's `env`; standIn.sh
 * describes the plan format.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const commands = ['sbatch', 'squeue', 'scancel', 'sacct'] as const;
export type StandInCommand = (typeof commands)[number];

export interface SlurmStandIns {
  /** The state folder; also a good place for the jobs' files. */
  readonly dir: string;
  /** For SlurmRunnerOptions: the executables' paths and the env that points them at `dir`. */
  readonly runnerOptions: {
    readonly sbatchPath: string;
    readonly squeuePath: string;
    readonly scancelPath: string;
    readonly sacctPath: string;
    readonly env: Readonly<Record<string, string>>;
  };
  /** The plans of the next submitted jobs, one string of tokens each, in submission order. */
  plan(...jobs: string[]): void;
  /** From now on `command` prints `stderr` and exits with `exitCode`; `undefined` heals it. */
  fail(command: StandInCommand, stderr: string | undefined, exitCode?: number): void;
  /** What sacct prints for a job: `JobID|State|ExitCode`. */
  accounting(jobId: string, line: string): void;
  /** Makes sbatch print `<id>;<cluster>`, as on a multi-cluster setup. */
  cluster(name: string): void;
  /** Every call so far, as `command arg arg…` lines. */
  calls(): string[];
  /** How often `command` was called. */
  count(command: StandInCommand): number;
  remove(): void;
}

export const createSlurmStandIns = (): SlurmStandIns => {
  // git does not always keep the executable bit of files written by hand.
  for (const command of commands) chmodSync(join(here, command), 0o755);
  const dir = mkdtempSync(join(tmpdir(), 'daqflow-slurm-standins-'));
  const calls = (): string[] => {
    try {
      return readFileSync(join(dir, 'calls.log'), 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };
  return {
    dir,
    runnerOptions: {
      sbatchPath: join(here, 'sbatch'),
      squeuePath: join(here, 'squeue'),
      scancelPath: join(here, 'scancel'),
      sacctPath: join(here, 'sacct'),
      env: { SLURM_STANDIN_DIR: dir },
    },
    plan: (...jobs) => writeFileSync(join(dir, 'plan'), `${jobs.join('\n')}\n`),
    fail: (command, stderr, exitCode = 1) => {
      if (stderr === undefined) {
        rmSync(join(dir, `${command}.stderr`), { force: true });
        return;
      }
      writeFileSync(join(dir, `${command}.stderr`), `${stderr}\n`);
      writeFileSync(join(dir, `${command}.rc`), `${exitCode}\n`);
    },
    accounting: (jobId, line) => {
      mkdirSync(join(dir, 'sacct'), { recursive: true });
      writeFileSync(join(dir, 'sacct', jobId), `${line}\n`);
    },
    cluster: (name) => writeFileSync(join(dir, 'cluster'), name),
    calls,
    count: (command) => calls().filter((line) => line === command || line.startsWith(`${command} `)).length,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
};
