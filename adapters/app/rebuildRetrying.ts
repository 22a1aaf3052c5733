import { sql } from 'kysely';
import type { Logger } from '../../actors/runtime/logger.js';
import { StoreUnavailableError } from '../../events/errors.js';
import { newShadowSchemaName, rebuildProjections, type RebuildOptions, type RebuildResult } from '../../projections/replay.js';
import { isDatabaseUnavailable } from '../postgres/databaseUnavailable.js';
import { OutageLog } from './outageLog.js';

export interface RebuildRetryingOptions extends Omit<RebuildOptions, 'shadowSchema'> {
  readonly logger: Logger;
  /** How long to wait for PostgreSQL to come back before giving up (default 10 minutes). */
  readonly waitMs?: number;
  /** Told each time the rebuild starts again after an outage, with the attempt about to run. */
  readonly onRestart?: (attempt: number) => void;
}

const PROBE_MS = 1_000;

/**
 * A projection rebuild that outlasts a PostgreSQL restart: the live tables are untouched until
 * the swap, which is one transaction, so a rebuild cut by an outage is thrown away (its shadow
 * schema dropped once the server is back) and started again from the first event. Any other
 * failure ends it, as does an outage longer than `waitMs`.
 */
export const rebuildRetrying = async (options: RebuildRetryingOptions): Promise<RebuildResult> => {
  const { logger, waitMs = 600_000, onRestart, ...rebuild } = options;
  const outage = new OutageLog(
    logger,
    'PostgreSQL',
    'DAQFLOW_DATABASE_URL',
    'the rebuild starts again once it is back; the live tables stay as they were until then',
  );
  for (let attempt = 1; ; attempt++) {
    const shadow = newShadowSchemaName();
    try {
      return await rebuildProjections({ ...rebuild, shadowSchema: shadow });
    } catch (e) {
      if (!isDatabaseUnavailable(e)) throw e;
      outage.down(e);
    }
    const giveUpAt = Date.now() + waitMs;
    for (;;) {
      try {
        await sql`select 1`.execute(rebuild.db);
        break;
      } catch (e) {
        if (!isDatabaseUnavailable(e)) throw e;
        if (Date.now() > giveUpAt) {
          throw new StoreUnavailableError(
            `PostgreSQL did not come back within ${Math.round(waitMs / 1000)} s; the projections are as they were before the rebuild (check DAQFLOW_DATABASE_URL)`,
            { cause: e },
          );
        }
        await new Promise((r) => setTimeout(r, PROBE_MS));
      }
    }
    outage.up();
    // What the cut attempt folded is of no use; the next attempt folds into a new schema.
    await sql`drop schema if exists ${sql.id(shadow)} cascade`.execute(rebuild.db).catch((e: unknown) =>
      logger.warn({ err: e, schema: shadow }, 'could not drop the schema of the cut rebuild; drop it by hand'),
    );
    onRestart?.(attempt + 1);
  }
};
