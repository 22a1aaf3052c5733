// Publishing a finished file: a complete, synced draft takes its final name in one step, so the
// final name never names a partial file. Shared by both HDF5 writers.
import { constants } from 'node:fs';
import { copyFile, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errnoOf } from './dataRootPaths.js';

/**
 * The name of the temporary copy in the out folder when the draft has to be copied across file
 * systems: `.<final name>.partial`, renamed to the final name once complete.
 */
export const partialFileName = (finalName: string): string => `.${finalName}.partial`;

/** Syncs a file's data to its disk. */
export const fsyncFile = async (path: string): Promise<void> => {
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
};

/** Best effort: a directory fsync makes a rename durable on Linux; some systems refuse it. */
const fsyncDir = async (path: string): Promise<void> => {
  try {
    const fh = await open(path, constants.O_RDONLY);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // not supported here (e.g. Windows, some network file systems): the data itself is synced
  }
};

export interface PublishOps {
  readonly rename: (from: string, to: string) => Promise<void>;
}

const defaultOps: PublishOps = { rename };

/**
 * Moves a complete, synced draft to its final path so that the final name only ever names a
 * complete file. Same file system: one `rename` (atomic; an existing file of that name is
 * replaced, so a retried run republishes the same path). Across file systems (`EXDEV`): copy to
 * `.<name>.partial` in the final folder, sync it, rename it to the final name, then remove the
 * draft. A failed copy removes the partial copy and keeps the draft.
 */
export const publishDraft = async (draftPath: string, finalPath: string, ops: PublishOps = defaultOps): Promise<void> => {
  const finalDir = dirname(finalPath);
  try {
    await ops.rename(draftPath, finalPath);
  } catch (e) {
    if (errnoOf(e) !== 'EXDEV') throw e;
    const partial = join(finalDir, partialFileName(basename(finalPath)));
    try {
      await copyFile(draftPath, partial);
      await fsyncFile(partial);
      await rename(partial, finalPath);
    } catch (copyError) {
      await rm(partial, { force: true });
      throw copyError;
    }
    await rm(draftPath, { force: true });
    await fsyncDir(dirname(draftPath));
  }
  await fsyncDir(finalDir);
};
