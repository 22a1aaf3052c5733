/**
 * Folders that must lie inside the data root (`DAQFLOW_DATA_ROOT`): every file daqflow writes
 * does. A folder is judged by where it really is, with '..' and the symlinks that exist followed,
 * so that neither `../x` nor a symlink pointing out can carry a file outside the root.
 */
import { constants } from 'node:fs';
import { access, mkdir, realpath } from 'node:fs/promises';
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
 * The longest ancestor of `absolute` (itself included) that exists, resolved by `realpath`, and the
 * names below it that do not exist yet.
 */
const existingAncestor = async (absolute: string): Promise<{ readonly real: string; readonly missing: string[] }> => {
  const rest: string[] = [];
  let head = absolute;
  for (;;) {
    try {
      return { real: await realpath(head), missing: rest.reverse() };
    } catch (e) {
      const code = errnoOf(e);
      const parent = dirname(head);
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || parent === head) throw e;
      rest.push(basename(head));
      head = parent;
    }
  }
};

/**
 * `realpath` of the longest existing ancestor, with the rest of the path appended: where `absolute`
 * is, or would be once created, without creating anything.
 */
export const realpathOfExisting = async (absolute: string): Promise<string> => {
  const { real, missing } = await existingAncestor(absolute);
  return join(real, ...missing);
};

const refuseOutside = (rootReal: string, dir: string, real: string, what: string): never => {
  throw new ValidationError(
    `${what} ${JSON.stringify(dir)} resolves to ${real}, outside the data root ${rootReal}; every output file must be inside DAQFLOW_DATA_ROOT`,
    [{ path: [what], message: 'outside the data root' }],
  );
};

/** Longest file name component and path Linux takes (NAME_MAX, PATH_MAX), in bytes. */
const NAME_MAX_BYTES = 255;
const PATH_MAX_BYTES = 4095;

/**
 * Refuses a path the file system could never take: a NUL byte (Node throws on it before any system
 * call), a component over 255 bytes or a path over 4095 bytes (ENAMETOOLONG). A client's typo,
 * not a server fault: a 400 naming the field, never an internal error.
 */
export const checkPathText = (path: string, what: string): void => {
  const problem = path.includes('\0')
    ? 'holds a NUL character'
    : Buffer.byteLength(path) > PATH_MAX_BYTES
      ? `is over ${PATH_MAX_BYTES} bytes`
      : path.split('/').some((part) => Buffer.byteLength(part) > NAME_MAX_BYTES)
        ? `has a name over ${NAME_MAX_BYTES} bytes`
        : undefined;
  if (problem) throw new ValidationError(`${what} ${problem}`, [{ path: [what], message: problem }]);
};

// What a path a client named can run into on its way to the root: a 400 with the errno, not a 500.
const clientPathErrnos = new Set(['ELOOP', 'ENAMETOOLONG', 'ENOTDIR', 'EACCES', 'EPERM', 'EROFS']);

/** Runs a file system call on a client's path; its client-caused failures become a 400 naming errno and path. */
export const onClientPath = async <T>(path: string, what: string, call: () => Promise<T>): Promise<T> => {
  try {
    return await call();
  } catch (e) {
    const code = errnoOf(e);
    if (code === undefined || !clientPathErrnos.has(code)) throw e;
    throw new ValidationError(`${what} ${JSON.stringify(path)} cannot be used: ${code}`, [{ path: [what], message: code }]);
  }
};

/**
 * Where `dir` (relative ones from `rootReal`) really is, with '..' and existing symlinks followed;
 * refuses it unless it lies inside `rootReal`. Creates nothing, so a refused request leaves no trace.
 */
export const checkDirInsideRoot = async (rootReal: string, dir: string, what: string): Promise<string> => {
  if (typeof dir !== 'string' || dir.length === 0) throw new ValidationError(`${what} must be a non-empty path`);
  checkPathText(dir, what);
  const real = await onClientPath(dir, what, () => realpathOfExisting(resolve(rootReal, dir)));
  if (!isInside(rootReal, real)) refuseOutside(rootReal, dir, real, what);
  return real;
};

/**
 * Refuses a folder (`real`, as {@link checkDirInsideRoot} resolved it) that daqflow could not write
 * in: the folder, or the nearest ancestor that exists when it is still to be made, must be
 * writable. A read-only file system (EROFS, which holds for root too) or a permission (EACCES) is a
 * 400 naming the errno at the request, instead of a job that starts and fails later with whatever
 * the writer's library makes of it.
 */
export const checkDirWritable = async (real: string, dir: string, what: string): Promise<void> => {
  await onClientPath(dir, what, async () => access((await existingAncestor(real)).real, constants.W_OK));
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
