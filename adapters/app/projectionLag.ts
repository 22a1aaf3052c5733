import type { Kysely } from 'kysely';
import type { EventStore } from '../../events/eventStore.js';
import { readCheckpoint } from '../../projections/checkpoints.js';
import type { Database } from '../../projections/database.js';
import { DEFAULT_PROJECTOR_NAME } from '../../projections/projector.js';

/** How far the projections trail the event stream. */
export interface ProjectionLag {
  /** Position of the newest event in the stream. */
  readonly streamPosition: number;
  /** Position of the newest event the projections hold (the live projector's checkpoint). */
  readonly projectedPosition: number;
  /** Events in the stream the projections do not hold yet. */
  readonly eventsBehind: number;
  /**
   * Age of the oldest event the projections do not hold yet (now minus its `time`), 0 when
   * they hold everything: how stale a status row can be at most.
   */
  readonly secondsBehind: number;
}

/** Reads the live projector's checkpoint, then the stream's end and its oldest unprojected event. */
export const readProjectionLag = async (
  db: Kysely<Database>,
  store: Pick<EventStore, 'lastPosition' | 'readAll'>,
  now: () => Date = () => new Date(),
): Promise<ProjectionLag> => {
  const projectedPosition = await readCheckpoint(db, DEFAULT_PROJECTOR_NAME);
  const streamPosition = await store.lastPosition();
  const eventsBehind = Math.max(0, streamPosition - projectedPosition);
  let secondsBehind = 0;
  if (eventsBehind > 0) {
    for await (const batch of store.readAll({ from: projectedPosition + 1, batchSize: 1 })) {
      const oldest = batch[0];
      if (oldest) secondsBehind = Math.max(0, (now().getTime() - Date.parse(oldest.time)) / 1000);
      break;
    }
  }
  return { streamPosition, projectedPosition, eventsBehind, secondsBehind };
};

/** The lag as one line of `daqflow status`. */
export const projectionLagText = (lag: ProjectionLag): string =>
  lag.eventsBehind === 0
    ? `projections: up to date with the stream at position ${lag.projectedPosition}`
    : `projections: ${lag.eventsBehind} events (${lag.secondsBehind.toFixed(1)} s) behind the stream, at position ${lag.projectedPosition} of ${lag.streamPosition}`;
