import { opendir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../../../actors/runtime/logger.js';
import { tokenPattern } from '../../../events/envelope.js';
import type { EventStore } from '../../../events/eventStore.js';
import { WORK_DIR_PREFIX } from './chunkWorkFiles.js';

export interface SweepResult {
  /** Work folders of finished runs, removed. */
  readonly removed: string[];
  /** Work folders kept: their run is unfinished, or unknown to this event store (another deployment's). */
  readonly kept: number;
}

/**
 * Removes the work folders (`.daqflow-grab-<id>`) of grab runs that have finished, anywhere under
 * the data root. A run's final transition asks for its folder to be removed, but a process killed
 * between recording that transition and removing the folder leaves it behind, and final actors
 * are not recovered: this sweep, run at start-up, is what removes those. Folders of unfinished
 * runs, and of runs this event store does not know, are never touched.
 */
export const sweepWorkFolders = async (
  dataRoot: string,
  store: Pick<EventStore, 'readLast'>,
  options: { logger?: Logger; maxDepth?: number } = {},
): Promise<SweepResult> => {
  const logger = options.logger ?? silentLogger;
  const maxDepth = options.maxDepth ?? 6;
  const removed: string[] = [];
  let kept = 0;
  const visit = async (dir: string, depth: number): Promise<void> => {
    let entries;
    try {
      entries = await opendir(dir);
    } catch {
      return; // gone, or not readable: nothing of ours to sweep there
    }
    for await (const entry of entries) {
      if (!entry.isDirectory()) continue;
      const path = join(dir, entry.name);
      if (entry.name.startsWith(WORK_DIR_PREFIX)) {
        const id = entry.name.slice(WORK_DIR_PREFIX.length);
        const last = tokenPattern.test(id) ? await store.readLast('grab', id) : undefined;
        if (last?.final) {
          await rm(path, { recursive: true, force: true });
          removed.push(path);
          logger.info({ id, path, state: last.state }, 'removed the work folder of a finished grab run');
        } else {
          kept++;
        }
        continue;
      }
      if (depth < maxDepth) await visit(path, depth + 1);
    }
  };
  await visit(dataRoot, 0);
  return { removed, kept };
};
