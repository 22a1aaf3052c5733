import { randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

// Temp files are dot-files in the target's own folder (rename is atomic only within one file
// system), with a suffix that copiers and publishers can recognise and leave out: a run killed
// mid-write leaves at most such a file, never a half-written one under its final name.
const PARTIAL_SUFFIX = '.partial';

/** Whether a file name is a temp file of `writeFileAtomic` (left behind by a killed run). */
export const isPartialFile = (name: string): boolean =>
  path.basename(name).startsWith('.') && name.endsWith(PARTIAL_SUFFIX);

/**
 * Writes `data` to `target` so that `target` either keeps its old content or has all of the new:
 * written and synced under a temp name beside it, then renamed over it. Creates missing folders.
 */
export const writeFileAtomic = async (target: string, data: string | Uint8Array): Promise<void> => {
  const dir = path.dirname(target);
  await mkdir(dir, { recursive: true });
  const temp = path.join(dir, `.${path.basename(target)}.${randomUUID()}${PARTIAL_SUFFIX}`);
  try {
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(data);
      // Without the sync a crash after the rename can leave the new name with empty content.
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
};
