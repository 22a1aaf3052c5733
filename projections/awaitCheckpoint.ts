import type { DbOrTrx } from './database.js';
import { readCheckpoint } from './checkpoints.js';

export interface AwaitCheckpointResult {
  /** Whether the checkpoint reached the position in time. */
  readonly reached: boolean;
  /** The checkpoint last read. */
  readonly position: number;
}

// The first reads come soon (a projector keeping up commits within tens of ms), later ones back
// off so that many waiting queries cost the database little. Read from the table rather than
// told by a projector, so a projector in any process or thread counts.
const FIRST_POLL_MS = 5;
const MAX_POLL_MS = 100;

/**
 * Waits until the checkpoint `name` is at or past `position`, at most `timeoutMs`; resolves with
 * where it got to and never rejects for time.
 */
export const awaitCheckpoint = async (
  db: DbOrTrx,
  name: string,
  position: number,
  timeoutMs: number,
): Promise<AwaitCheckpointResult> => {
  const deadline = performance.now() + timeoutMs;
  let pollMs = FIRST_POLL_MS;
  for (;;) {
    const current = await readCheckpoint(db, name);
    if (current >= position) return { reached: true, position: current };
    const left = deadline - performance.now();
    if (left <= 0) return { reached: false, position: current };
    await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, left)));
    pollMs = Math.min(MAX_POLL_MS, pollMs * 2);
  }
};
