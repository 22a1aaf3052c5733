import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { GitPushRejectedError, GitRemoteMissingError } from './errors.js';
import { publishToGit, type GitPublishOptions } from './gitPublisher.js';

const scratch = mkdtempSync(path.join(tmpdir(), 'daqflow-publish-spec-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } }).trim();

let case_ = 0;
let remote: string;
let source: string;

/** A fresh bare repository and report folder per test. */
beforeEach(() => {
  case_ += 1;
  remote = path.join(scratch, `remote-${case_}.git`);
  source = path.join(scratch, `report-${case_}`);
  mkdirSync(remote);
  git(remote, 'init', '-q', '--bare');
  writeReport({ 'index.html': '<h1>report</h1>', 'SPB/index.html': '<h1>SPB</h1>', 'SPB/plots/AGIPD/bias.png': Buffer.from([0x89, 0x50, 1, 2, 3]) });
});

function writeReport(files: Record<string, string | Buffer>): void {
  rmSync(source, { recursive: true, force: true });
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(source, name)), { recursive: true });
    writeFileSync(path.join(source, name), content);
  }
}

const options = (extra: Partial<GitPublishOptions> = {}): GitPublishOptions => ({
  remote,
  sourceDir: source,
  subdir: 'reports/weekly',
  message: 'report weekly 2026-11-15',
  author: { name: 'daqflow reports', email: 'daqflow@example.org' },
  ...extra,
});

const filesOnRemote = (ref = 'main'): string[] => git(remote, 'ls-tree', '-r', '--name-only', ref).split('\n').filter(Boolean);
const commitCount = (ref = 'main'): number => Number(git(remote, 'rev-list', '--count', ref));

describe('publishing a report to git', () => {
  it('pushes one commit with the files under the sub-folder, by the given author', async () => {
    const result = await publishToGit(options());
    expect(result).toMatchObject({ created: true, branch: 'main', files: 3 });
    expect(result.commit).toBe(git(remote, 'rev-parse', 'main'));
    expect(filesOnRemote()).toEqual(['reports/weekly/SPB/index.html', 'reports/weekly/SPB/plots/AGIPD/bias.png', 'reports/weekly/index.html']);
    expect(git(remote, 'log', '-1', '--format=%an <%ae>|%cn|%s', 'main')).toBe('daqflow reports <daqflow@example.org>|daqflow reports|report weekly 2026-11-15');
    // Binary content arrives byte for byte.
    expect(execFileSync('git', ['show', 'main:reports/weekly/SPB/plots/AGIPD/bias.png'], { cwd: remote })).toEqual(
      Buffer.from([0x89, 0x50, 1, 2, 3]),
    );
  });

  it('makes no commit for the same content and answers the existing commit', async () => {
    const first = await publishToGit(options());
    const second = await publishToGit(options({ message: 'again' }));
    expect(second).toEqual({ ...first, created: false });
    expect(commitCount()).toBe(1);
  });

  it('adds one commit for changed content, with deleted files gone', async () => {
    await publishToGit(options());
    writeReport({ 'index.html': '<h1>report, next week</h1>', 'SPB/index.html': '<h1>SPB</h1>' });
    const result = await publishToGit(options());
    expect(result.created).toBe(true);
    expect(result.files).toBe(2);
    expect(commitCount()).toBe(2);
    expect(filesOnRemote()).toEqual(['reports/weekly/SPB/index.html', 'reports/weekly/index.html']);
  });

  it('reuses a working clone and keeps what others pushed outside the sub-folder', async () => {
    const workDir = path.join(scratch, `work-${case_}`);
    await publishToGit(options({ workDir }));
    // Someone else pushes a file of their own, from their own clone.
    const other = path.join(scratch, `other-${case_}`);
    git(scratch, 'clone', '-q', '-b', 'main', remote, other);
    writeFileSync(path.join(other, 'README.md'), 'docs site\n');
    git(other, 'add', 'README.md');
    git(other, '-c', 'user.name=someone', '-c', 'user.email=someone@example.org', 'commit', '-q', '-m', 'readme');
    git(other, 'push', '-q', 'origin', 'HEAD:main');

    writeReport({ 'index.html': '<h1>changed</h1>' });
    const result = await publishToGit(options({ workDir }));
    expect(result.created).toBe(true);
    expect(filesOnRemote()).toEqual(['README.md', 'reports/weekly/index.html']);
    expect(commitCount()).toBe(3);
    // The same again through the kept clone: nothing to do.
    expect((await publishToGit(options({ workDir }))).created).toBe(false);
  });

  it('lands both of two publishes racing to the same branch', async () => {
    const sourceA = path.join(scratch, `a-${case_}`);
    const sourceB = path.join(scratch, `b-${case_}`);
    for (const [dir, text] of [[sourceA, 'A'], [sourceB, 'B']] as const) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'index.html'), text);
    }
    const results = await Promise.all([
      publishToGit(options({ sourceDir: sourceA, subdir: 'reports/SPB', attempts: 5 })),
      publishToGit(options({ sourceDir: sourceB, subdir: 'reports/FXE', attempts: 5 })),
    ]);
    expect(results.every((r) => r.created)).toBe(true);
    expect(filesOnRemote()).toEqual(['reports/FXE/index.html', 'reports/SPB/index.html']);
    expect(commitCount()).toBe(2);
  });

  it('leaves out temp files of interrupted writes', async () => {
    writeReport({ 'index.html': 'ok', '.index.html.0b5c.partial': 'half' });
    await publishToGit(options());
    expect(filesOnRemote()).toEqual(['reports/weekly/index.html']);
  });

  it('publishes to another branch when asked, creating it', async () => {
    const result = await publishToGit(options({ branch: 'gh-pages' }));
    expect(result).toMatchObject({ created: true, branch: 'gh-pages' });
    expect(filesOnRemote('gh-pages')).toHaveLength(3);
  });

  it('answers no commit for an empty report on a repository without the branch', async () => {
    writeReport({});
    mkdirSync(source, { recursive: true });
    expect(await publishToGit(options())).toEqual({ commit: null, created: false, branch: 'main', files: 0 });
  });

  it('throws GitRemoteMissingError when there is no repository at the remote', async () => {
    const error = await publishToGit(options({ remote: path.join(scratch, 'no-such-repo.git') })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GitRemoteMissingError);
    expect(error).toMatchObject({ name: 'GitRemoteMissingError', code: 'VALIDATION_FAILED', details: { reason: 'REMOTE_MISSING' } });
    expect((error as Error).cause).toBeDefined();
  });

  it('throws GitPushRejectedError when the remote refuses the push', async () => {
    const hook = path.join(remote, 'hooks', 'pre-receive');
    writeFileSync(hook, '#!/bin/sh\necho "reports are frozen" >&2\nexit 1\n');
    chmodSync(hook, 0o755);
    const error = await publishToGit(options()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GitPushRejectedError);
    expect(error).toMatchObject({ name: 'GitPushRejectedError', code: 'VERSION_CONFLICT', rejection: expect.stringContaining('[remote rejected]') });
    expect((error as GitPushRejectedError).details.stderr).toContain('reports are frozen');
    expect(git(remote, 'for-each-ref')).toBe('');
  });

  it('refuses a sub-folder outside the repository or inside .git, and a missing source folder', async () => {
    for (const subdir of ['', '.', '../up', '/abs', 'a/../../b', '.git/hooks', 'a/.GIT']) {
      await expect(publishToGit(options({ subdir })), subdir).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    }
    await expect(publishToGit(options({ sourceDir: path.join(scratch, 'missing') }))).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(publishToGit(options({ branch: 'bad..name' }))).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});
