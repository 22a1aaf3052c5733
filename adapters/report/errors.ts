/**
 * Errors of publishing a report to a git repository. Each failure is its own class directly
 * under `DaqflowError`, with the original error as `cause` and the git output in `details`, so a
 * report actor can record why a publish failed and decide whether to try again.
 */
import { DaqflowError, type ErrorCode } from '../../events/errors.js';

/** Why a publish failed, and the daqflow error code each reason carries. */
export const gitPublishFailures = {
  /** The remote cannot be read: no repository at that URL or path, or it refused or was unreachable. */
  REMOTE_MISSING: 'VALIDATION_FAILED',
  /**
   * The remote refused the push: a hook or a protected branch (`remote rejected`), or others
   * kept pushing first on every attempt (`rejected`, not a fast-forward).
   */
  PUSH_REJECTED: 'VERSION_CONFLICT',
  /** Any other git failure (git missing, a timeout, a broken working clone). */
  GIT_FAILED: 'INTERNAL',
} as const satisfies Record<string, ErrorCode>;

export type GitPublishFailure = keyof typeof gitPublishFailures;

/** What git said when it failed. */
export interface GitOutput {
  readonly args: readonly string[];
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const lastLines = (text: string): string => text.trim().split('\n').slice(-5).join('\n');

/** The remote repository could not be read. */
export class GitRemoteMissingError extends DaqflowError {
  override readonly name = 'GitRemoteMissingError';
  readonly reason = 'REMOTE_MISSING' satisfies GitPublishFailure;
  constructor(
    readonly remote: string,
    output: GitOutput,
    options?: ErrorOptions,
  ) {
    super(
      gitPublishFailures.REMOTE_MISSING,
      `no git repository can be read at ${remote}: ${lastLines(output.stderr) || 'git failed'}`,
      { reason: 'REMOTE_MISSING', remote, ...output },
      options,
    );
  }
}

/** The remote did not accept the push. */
export class GitPushRejectedError extends DaqflowError {
  override readonly name = 'GitPushRejectedError';
  readonly reason = 'PUSH_REJECTED' satisfies GitPublishFailure;
  constructor(
    readonly remote: string,
    readonly branch: string,
    /** git's reason, as in `[remote rejected] (pre-receive hook declined)`. */
    readonly rejection: string,
    output: GitOutput,
    options?: ErrorOptions,
  ) {
    super(
      gitPublishFailures.PUSH_REJECTED,
      `${remote} rejected the push to ${branch}: ${rejection}`,
      { reason: 'PUSH_REJECTED', remote, branch, rejection, ...output },
      options,
    );
  }
}

/** A git command failed for any other reason. */
export class GitCommandError extends DaqflowError {
  override readonly name = 'GitCommandError';
  readonly reason = 'GIT_FAILED' satisfies GitPublishFailure;
  readonly exitCode: number | null;
  constructor(
    message: string,
    readonly output: GitOutput,
    options?: ErrorOptions,
  ) {
    super(gitPublishFailures.GIT_FAILED, message, { reason: 'GIT_FAILED', ...output }, options);
    this.exitCode = output.exitCode;
  }
}

export type GitPublishError = GitRemoteMissingError | GitPushRejectedError | GitCommandError;

export const isGitPublishError = (e: unknown): e is GitPublishError =>
  e instanceof GitRemoteMissingError || e instanceof GitPushRejectedError || e instanceof GitCommandError;
