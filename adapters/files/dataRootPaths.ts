/**
 * Folders that must lie inside the data root (`DAQFLOW_DATA_ROOT`): every file daqflow writes
 * does. A folder is judged by where it really is, with '..' and the symlinks that exist followed,
 * so that neither `../x` nor a symlink pointing out can carry a file outside the root.
 */
import { mkdir, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ValidationError } from '../../events/errors.js';

/** True when `path` is `root` or below it (both absolute and normalised). */
export const isInside = (root: string, path: string): boolean => {
  const rel = relative(root, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
};

/** The `code` of a Node system error (`ENOENT`, `EXDEV`…), if it has one. */
export const errnoOf = (e: unknown): string | undefined =>
  typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;

/**
 * `realpath` of the longest existing ancestor, with the rest of the path appended: where `absolute`
 * is, or would be once created, without creating anything.
 */
export const realpathOfExisting = async (absolute: string): Promise<string> => {
  const rest: string[] = [];
  let head = absolute;
  for (;;) {
    try {
      return join(await realpath(head), ...rest.reverse());
    } catch (e) {
      const code = errnoOf(e);
      const parent = dirname(head);
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || parent === head) throw e;
      rest.push(basename(head));
      head = parent;
    }
  }
};

const refuseOutside = (rootReal: string, dir: string, real: string, what: string): never => {
  throw new ValidationError(
    `${what} ${JSON.stringify(dir)} resolves to ${real}, outside the data root ${rootReal}; every output file must be inside DAQFLOW_DATA_ROOT`,
    [{ path: [what], message: 'outside the data root' }],
  );
};

/**
 * Where `dir` (relative ones from `rootReal`) really is, with '..' and existing symlinks followed;
 * refuses it unless it lies inside `rootReal`. Creates nothing, so a refused request leaves no trace.
 */
export const checkDirInsideRoot = async (rootReal: string, dir: string, what: string): Promise<string> => {
  if (typeof dir !== 'string' || dir.length === 0) throw new ValidationError(`${what} must be a non-empty path`);
  const real = await realpathOfExisting(resolve(rootReal, dir));
  if (!isInside(rootReal, real)) refuseOutside(rootReal, dir, real, what);
  return real;
};

/**
 * {@link checkDirInsideRoot}, then creates the folder and checks again (a symlink may have been
 * made meanwhile).
 */
export const resolveDirInsideRoot = async (rootReal: string, dir: string, what: string): Promise<string> => {
  const before = await checkDirInsideRoot(rootReal, dir, what);
  await mkdir(before, { recursive: true });
  const after = await realpath(before);
  if (!isInside(rootReal, after)) refuseOutside(rootReal, dir, after, what);
  return after;
};
