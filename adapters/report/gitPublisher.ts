/**
 * Publishes a report folder to a git repository (the report service's prod mode pushes its plots to the
 * repository its documentation site is built from): the folder replaces one sub-folder of a
 * branch, in one commit, pushed as a fast-forward.
 *
 * Idempotent and crash-safe by construction: every publish starts from the remote branch as it
 * is now (fetched, working tree reset and cleaned), so a commit left unpushed by a killed run is
 * dropped and made again, and a publish whose content the branch already has makes no commit
 * and answers the branch's commit.
 */
import { cp, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ValidationError } from '../../events/errors.js';
import { GitCommandError, GitPushRejectedError, GitRemoteMissingError, type GitOutput } from './errors.js';
import { runGit } from './runGit.js';
import { isPartialFile } from '../files/writeFileAtomic.js';

export interface GitPublishOptions {
  /** URL or path of the repository (a local bare repository in tests). */
  readonly remote: string;
  /** The folder to publish: its whole content, temp files of killed writes left out. */
  readonly sourceDir: string;
  /** Relative path in the repository that the folder replaces, e.g. `reports/SPB`. */
  readonly subdir: string;
  readonly message: string;
  readonly author: { readonly name: string; readonly email: string };
  /** Default `main`; created when the remote has no such branch. */
  readonly branch?: string;
  /**
   * A working clone to keep between publishes (created when missing), to fetch only what changed.
   * One publisher at a time per folder. Default: a temp folder removed afterwards.
   */
  readonly workDir?: string;
  /** Time limit of each git command. Default 120 s. */
  readonly timeoutMs?: number;
  /** Tries when someone else pushed to the branch meanwhile. Default 3. */
  readonly attempts?: number;
  /** Author and commit time. Default: now. */
  readonly date?: Date;
}

export interface GitPublishResult {
  /** The branch's commit that holds the content; null when there is neither content nor branch. */
  readonly commit: string | null;
  /** Whether this publish pushed a new commit (false: the branch had this content already). */
  readonly created: boolean;
  readonly branch: string;
  /** Files under `subdir` in that commit. */
  readonly files: number;
}

const checkSubdir = (subdir: string): string => {
  const normal = path.posix.normalize(subdir.replaceAll('\\', '/')).replace(/\/+$/, '');
  const segments = normal.split('/');
  if (
    subdir.trim() === '' ||
    path.posix.isAbsolute(normal) ||
    segments.some((s) => s === '..' || s === '.' || s === '' || s.toLowerCase() === '.git')
  ) {
    throw new ValidationError(`subdir ${JSON.stringify(subdir)} is not a sub-folder path inside the repository`, [
      { path: ['subdir'], message: 'a relative path such as reports/SPB, without . or .. or .git' },
    ]);
  }
  return normal;
};

const checkBranch = async (branch: string, cwd: string): Promise<void> => {
  try {
    await runGit(['check-ref-format', '--branch', branch], { cwd });
  } catch (error) {
    throw new ValidationError(`branch ${JSON.stringify(branch)} is not a valid branch name`, [], { cause: error });
  }
};

const isDirectory = async (folder: string): Promise<boolean> => {
  try {
    return (await stat(folder)).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
};

// Publishes into one working clone never overlap within a process.
const queues = new Map<string, Promise<unknown>>();
const serialised = <T>(key: string, task: () => Promise<T>): Promise<T> => {
  const previous = queues.get(key) ?? Promise.resolve();
  const next = previous.then(task, task);
  const settled = next.then(
    () => undefined,
    () => undefined,
  );
  queues.set(key, settled);
  void settled.then(() => {
    if (queues.get(key) === settled) queues.delete(key);
  });
  return next;
};

interface Context {
  readonly cwd: string;
  readonly timeoutMs: number;
}

/** A git working folder with `origin` pointing at the remote, made if missing. */
const prepareWorkDir = async (workDir: string, remote: string, ctx: Context): Promise<void> => {
  await mkdir(workDir, { recursive: true });
  if (!(await isDirectory(path.join(workDir, '.git')))) {
    if ((await readdir(workDir)).length > 0) {
      throw new ValidationError(`${workDir} is not empty and not a git working clone: refusing to publish through it`);
    }
    await runGit(['init', '-q'], ctx);
  }
  // Only this publisher uses the clone, so a lock file is a leftover of a killed git.
  await rm(path.join(workDir, '.git', 'index.lock'), { force: true });
  const remotes = (await runGit(['remote'], ctx)).stdout.split('\n');
  await runGit(remotes.includes('origin') ? ['remote', 'set-url', 'origin', remote] : ['remote', 'add', 'origin', remote], ctx);
};

/** The remote branch's commit, undefined when the branch does not exist yet. */
const remoteHead = async (remote: string, branch: string, ctx: Context): Promise<string | undefined> => {
  try {
    const { stdout } = await runGit(['ls-remote', '--heads', 'origin', `refs/heads/${branch}`], ctx);
    return stdout.split('\n').find((line) => line.endsWith(`\trefs/heads/${branch}`))?.split('\t')[0];
  } catch (error) {
    // An exit code means git ran and could not read the remote; no exit code means no git.
    if (error instanceof GitCommandError && error.exitCode !== null) {
      throw new GitRemoteMissingError(remote, error.output, { cause: error });
    }
    throw error;
  }
};

/** Working tree and index at the remote branch, or empty on an unborn branch when there is none. */
const resetToRemote = async (branch: string, head: string | undefined, ctx: Context): Promise<void> => {
  if (head === undefined) {
    await runGit(['symbolic-ref', 'HEAD', `refs/heads/${branch}`], ctx);
    // A branch left from an earlier publish that the remote no longer has.
    await runGit(['update-ref', '-d', `refs/heads/${branch}`], ctx);
    await runGit(['read-tree', '--empty'], ctx);
  } else {
    await runGit(['fetch', '-q', '--no-tags', '--depth=1', 'origin', `+refs/heads/${branch}:refs/remotes/origin/${branch}`], ctx);
    await runGit(['checkout', '-q', '-f', '-B', branch, `refs/remotes/origin/${branch}`], ctx);
  }
  await runGit(['clean', '-q', '-ffdx'], ctx);
};

type PushOutcome = { pushed: true } | { pushed: false; retry: boolean; rejection: string; output: GitOutput };

const push = async (remote: string, branch: string, ctx: Context): Promise<PushOutcome> => {
  let output: GitOutput;
  try {
    output = await runGit(['push', '--porcelain', '--no-verify', 'origin', `HEAD:refs/heads/${branch}`], {
      ...ctx,
      okExitCodes: [1],
    });
  } catch (error) {
    // The remote went away since it was read.
    if (error instanceof GitCommandError && /does not appear to be a git repository|Could not read from remote/.test(error.output.stderr)) {
      throw new GitRemoteMissingError(remote, error.output, { cause: error });
    }
    throw error;
  }
  if (output.exitCode === 0) return { pushed: true };
  // Porcelain lines: `<flag>\t<from>:<to>\t<summary>`, `!` for a ref that was not updated.
  const refused = output.stdout.split('\n').find((line) => line.startsWith('!'));
  const summary = refused?.split('\t')[2]?.trim();
  if (summary === undefined) {
    return { pushed: false, retry: false, rejection: output.stderr.trim() || 'push failed', output };
  }
  // `[rejected] (fetch first)` / `(non-fast-forward)`: someone pushed first, so start over from
  // their commit; so too when the remote lost a race for the branch's lock to a push landing at
  // the same moment. Any other `[remote rejected]` (a hook, a protected branch) is the remote's
  // decision and stays.
  const lostRace = /failed to update ref|cannot lock ref|failed to lock/.test(summary);
  return { pushed: false, retry: summary.startsWith('[rejected]') || lostRace, rejection: summary, output };
};

const publishIn = async (workDir: string, options: GitPublishOptions): Promise<GitPublishResult> => {
  const branch = options.branch ?? 'main';
  const subdir = checkSubdir(options.subdir);
  const ctx: Context = { cwd: workDir, timeoutMs: options.timeoutMs ?? 120_000 };
  const sourceDir = path.resolve(options.sourceDir);
  if (!(await isDirectory(sourceDir))) throw new ValidationError(`${sourceDir} is not a folder to publish`);
  await prepareWorkDir(workDir, options.remote, ctx);
  await checkBranch(branch, workDir);
  const when = (options.date ?? new Date()).toISOString();
  const identity = {
    GIT_AUTHOR_NAME: options.author.name,
    GIT_AUTHOR_EMAIL: options.author.email,
    GIT_COMMITTER_NAME: options.author.name,
    GIT_COMMITTER_EMAIL: options.author.email,
    GIT_AUTHOR_DATE: when,
    GIT_COMMITTER_DATE: when,
  };
  const attempts = Math.max(1, options.attempts ?? 3);
  const countFiles = async (): Promise<number> =>
    (await runGit(['ls-tree', '-r', '--name-only', 'HEAD', '--', subdir], ctx)).stdout.split('\n').filter(Boolean).length;

  for (let attempt = 1; ; attempt += 1) {
    const head = await remoteHead(options.remote, branch, ctx);
    await resetToRemote(branch, head, ctx);
    const target = path.join(workDir, ...subdir.split('/'));
    await rm(target, { recursive: true, force: true });
    await cp(sourceDir, target, { recursive: true, filter: (source) => !isPartialFile(source) });
    await runGit(['add', '-A', '--', subdir], ctx);
    const diff = await runGit(['diff', '--cached', '--quiet'], { ...ctx, okExitCodes: [1] });
    if (diff.exitCode === 0) {
      if (head === undefined) return { commit: null, created: false, branch, files: 0 };
      // The fetched commit, which may be newer than the one ls-remote saw.
      const commit = (await runGit(['rev-parse', 'HEAD'], ctx)).stdout.trim();
      return { commit, created: false, branch, files: await countFiles() };
    }
    await runGit(['commit', '-q', '--no-verify', '--no-gpg-sign', '-m', options.message], { ...ctx, env: identity });
    const outcome = await push(options.remote, branch, ctx);
    if (outcome.pushed) {
      const commit = (await runGit(['rev-parse', 'HEAD'], ctx)).stdout.trim();
      return { commit, created: true, branch, files: await countFiles() };
    }
    if (!outcome.retry || attempt >= attempts) {
      throw new GitPushRejectedError(options.remote, branch, outcome.rejection, outcome.output);
    }
  }
};

/**
 * Publishes `sourceDir` as `subdir` of `branch` in the repository at `remote`: one commit by
 * `author` when the content differs from the branch's, pushed; nothing when it does not. Throws
 * `GitRemoteMissingError`, `GitPushRejectedError`, `GitCommandError`, or `ValidationError` for
 * bad arguments.
 */
export const publishToGit = async (options: GitPublishOptions): Promise<GitPublishResult> => {
  if (options.workDir !== undefined) {
    const workDir = path.resolve(options.workDir);
    return serialised(workDir, () => publishIn(workDir, options));
  }
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'daqflow-publish-'));
  try {
    return await publishIn(workDir, options);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
};
