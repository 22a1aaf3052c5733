import { sql, type Generated } from 'kysely';
import type { DbOrTrx } from './database.js';

export interface ProjectionCheckpointTable {
  name: string;
  /** Position of the last event applied by the runner called `name`. */
  position: number;
  updated_at: Generated<Date>;
}

type Db = DbOrTrx;

/** The stored position for `name`, 0 when it has none (nothing applied yet). */
export const readCheckpoint = async (db: Db, name: string): Promise<number> => {
  const row = await db
    .selectFrom('projection_checkpoint')
    .select('position')
    .where('name', '=', name)
    .executeTakeFirst();
  return row?.position ?? 0;
};

export type StoreCheckpointResult =
  | { readonly success: true; readonly position: number }
  | {
      readonly success: false;
      /**
       * IGNORED: already at `position`. CURRENT_AHEAD: stored position is past it.
       * MISMATCH: stored position is not the `expected` one (someone else moved it).
       */
      readonly reason: 'IGNORED' | 'CURRENT_AHEAD' | 'MISMATCH';
      readonly current: number;
    };

export interface StoreCheckpointOptions {
  /** Only move from this position (0 = no checkpoint yet); otherwise MISMATCH. */
  readonly expected?: number;
}

/**
 * Moves the checkpoint forward to `position`, in the caller's transaction so that it commits
 * together with the rows it covers. Never moves it back; expected refusals come back as a reason.
 */
export const storeCheckpoint = async (
  trx: Db,
  name: string,
  position: number,
  options: StoreCheckpointOptions = {},
): Promise<StoreCheckpointResult> => {
  const { expected } = options;
  const written =
    expected !== undefined && expected > 0
      ? await trx
          .updateTable('projection_checkpoint')
          .set({ position, updated_at: sql<Date>`now()` })
          .where('name', '=', name)
          .where('position', '=', expected)
          .where('position', '<', position)
          .returning('position')
          .executeTakeFirst()
      : await trx
          .insertInto('projection_checkpoint')
          .values({ name, position })
          .onConflict((oc) =>
            oc
              .column('name')
              .doUpdateSet((eb) => ({ position: eb.ref('excluded.position'), updated_at: sql<Date>`now()` }))
              .where((eb) =>
                eb.and([
                  eb('projection_checkpoint.position', '<', eb.ref('excluded.position')),
                  ...(expected === 0 ? [eb('projection_checkpoint.position', '=', 0)] : []),
                ]),
              ),
          )
          .returning('position')
          .executeTakeFirst();
  if (written !== undefined) return { success: true, position };
  const current = await readCheckpoint(trx, name);
  if (current === position) return { success: false, reason: 'IGNORED', current };
  if (current > position) return { success: false, reason: 'CURRENT_AHEAD', current };
  return { success: false, reason: 'MISMATCH', current };
};

/** Sets the checkpoint to `position` whatever it was: for rebuilds and deliberate resets. */
export const setCheckpoint = async (trx: Db, name: string, position: number): Promise<void> => {
  await trx
    .insertInto('projection_checkpoint')
    .values({ name, position })
    .onConflict((oc) =>
      oc.column('name').doUpdateSet({ position, updated_at: sql<Date>`now()` }),
    )
    .execute();
};
