import { spawn } from 'node:child_process';
import { JobRunnerError } from './errors.js';

export interface CommandResult {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunCommandOptions {
  /** Written to the command's stdin (sbatch reads its batch script from there). */
  readonly input?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Killed after this long; a scheduler command that hangs means the controller is in trouble. */
  readonly timeoutMs: number;
}

/**
 * Runs a scheduler command to its end and returns what it printed. Throws a JobRunnerError when
 * it cannot be started (EXECUTABLE_NOT_FOUND) or hangs (SCHEDULER_UNAVAILABLE); a non-zero exit
 * is the caller's to interpret, since "invalid job id" is an answer, not a failure.
 */
export const runCommand = (path: string, args: readonly string[], options: RunCommandOptions): Promise<CommandResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(path, args, { env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const missing = e.code === 'ENOENT' || e.code === 'EACCES';
      reject(
        new JobRunnerError(
          missing ? 'EXECUTABLE_NOT_FOUND' : 'COMMAND_FAILED',
          missing ? `${path} cannot be run (${e.code}): is Slurm's client installed (Debian: slurm-client)?` : `${path}: ${e.message}`,
          { command: path },
          { cause: e },
        ),
      );
    });
    child.once('close', (exitCode) => {
      clearTimeout(timer);
      const err = Buffer.concat(stderr).toString('utf8').trim();
      if (timedOut) {
        reject(
          new JobRunnerError('SCHEDULER_UNAVAILABLE', `${path} did not finish within ${options.timeoutMs} ms${err ? `: ${err}` : ''}`, {
            command: path,
            stderr: err,
          }),
        );
        return;
      }
      resolve({ exitCode, stdout: Buffer.concat(stdout).toString('utf8'), stderr: err });
    });
    // A command that exits without reading its stdin makes the write fail with EPIPE; its exit
    // code and stderr say more than that does.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
