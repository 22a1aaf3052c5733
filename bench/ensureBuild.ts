import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** As bin/daqflow.js decides: dist/'s stamp exists and no source is newer than it. */
export const buildIsCurrent = (): boolean => {
  const stamp = join(repositoryRoot, 'dist', '.build-stamp');
  if (!existsSync(stamp)) return false;
  const builtAt = statSync(stamp).mtimeMs;
  return ['events', 'actors', 'projections', 'adapters', 'migrations'].every((folder) =>
    readdirSync(join(repositoryRoot, folder), { recursive: true, withFileTypes: true }).every(
      (entry) => !entry.isFile() || statSync(join(entry.parentPath, entry.name)).mtimeMs <= builtAt,
    ),
  );
};

/** Runs `npm run build` unless dist/ is current, so that the bench measures what a deployment runs. */
export const ensureBuild = (log: (line: string) => void): void => {
  if (buildIsCurrent()) return;
  log('building dist/ first (npm run build)');
  const build = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: repositoryRoot, stdio: ['ignore', process.stderr, 'inherit'] });
  if (build.status !== 0) throw new Error(`npm run build failed (exit ${build.status})`);
};
