import { execFile } from 'node:child_process';
import { GitCommandError, type GitOutput } from './errors.js';

export interface RunGitOptions {
  readonly cwd: string;
  /** Exit codes that are answers rather than failures (1 of `git diff --quiet`, say). */
  readonly okExitCodes?: readonly number[];
  /** Added to the environment: author and committer identity. */
  readonly env?: Readonly<Record<string, string>>;
  /** Default 120 s: a push of many plots over a slow link, not a hung credential prompt. */
  readonly timeoutMs?: number;
}

// Parsed output must be git's own English; prompts would hang a job forever, and a user's
// signing or line-ending rules must not change what a report commit contains. (No
// core.hooksPath here: `-c` reaches the receive-pack of a local remote too and would switch
// off the remote's own hooks. Commit and push take --no-verify instead.)
const fixedEnv = { LC_ALL: 'C', LANGUAGE: 'C', GIT_TERMINAL_PROMPT: '0', GIT_OPTIONAL_LOCKS: '0' };
const fixedConfig = ['-c', 'commit.gpgSign=false', '-c', 'core.autocrlf=false', '-c', 'core.safecrlf=false'];

/**
 * Runs `git <args>` (the binary, never a shell) and returns its output and exit code. Throws
 * `GitCommandError` for an exit code not in `okExitCodes` (0 always is), a timeout, or no git.
 */
export const runGit = (args: readonly string[], options: RunGitOptions): Promise<GitOutput> =>
  new Promise((resolve, reject) => {
    const fullArgs = [...fixedConfig, ...args];
    execFile(
      'git',
      fullArgs,
      {
        cwd: options.cwd,
        env: { ...process.env, ...fixedEnv, ...options.env },
        timeout: options.timeoutMs ?? 120_000,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        const exitCode = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        const output: GitOutput = { args, exitCode, stdout, stderr };
        if (exitCode !== null && (exitCode === 0 || options.okExitCodes?.includes(exitCode))) {
          resolve(output);
          return;
        }
        const why = error?.killed
          ? `was killed after ${options.timeoutMs ?? 120_000} ms`
          : exitCode === null
            ? `could not run (${String(error?.code ?? error?.message)})`
            : `exited with ${exitCode}`;
        reject(
          new GitCommandError(`git ${args.join(' ')} ${why}: ${stderr.trim().split('\n').slice(-3).join(' ')}`, output, {
            cause: error,
          }),
        );
      },
    );
  });
