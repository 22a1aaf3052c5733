import type { Kysely } from 'kysely';
import type { Logger } from '../../actors/runtime/logger.js';
import { readCheckpoint } from '../../projections/checkpoints.js';
import type { Database } from '../../projections/database.js';
import { DEFAULT_PROJECTOR_NAME, type Projector } from '../../projections/projector.js';

/** How often a standby reads the checkpoint the running projector commits. */
const STANDBY_POLL_MS = 250;

export interface LeasedProjector extends Projector {
  /** Starts (true) or stops (false) the projector in this process as its lease comes and goes. */
  held(held: boolean): void;
  /** Whether it runs in this process now. */
  running(): boolean;
}

/**
 * The projector of a process that takes part in the projector's lease: it runs while this
 * process holds the lease, otherwise it stands by and answers from the checkpoint another
 * process's projector commits. (Two projectors at once would still be correct: each batch takes
 * the projections' lock and skips what the checkpoint covers. The lease saves the duplicate work.)
 */
export const leasedProjector = (start: () => Projector, db: Kysely<Database>, logger: Logger): LeasedProjector => {
  let current: Projector | undefined;
  let stopping: Promise<void> | undefined;
  let seen = 0;
  let stopped = false;
  return {
    held: (held) => {
      if (stopped) return;
      if (held && !current) {
        logger.info({}, 'projector lease held: the projector runs in this process');
        current = start();
      } else if (!held && current) {
        logger.info({}, 'projector lease lost: the projector stands by');
        const was = current;
        current = undefined;
        seen = Math.max(seen, was.position());
        stopping = was.stop();
      }
    },
    running: () => current !== undefined,
    position: () => current?.position() ?? seen,
    caughtUp: async (position) => {
      for (;;) {
        if (current) return current.caughtUp(position);
        if (stopped) throw new Error('the projector stopped');
        seen = Math.max(seen, await readCheckpoint(db, DEFAULT_PROJECTOR_NAME).catch(() => seen));
        if (seen >= position) return;
        await new Promise((r) => setTimeout(r, STANDBY_POLL_MS));
      }
    },
    stop: async () => {
      stopped = true;
      await stopping;
      await current?.stop();
    },
  };
};
