import type { RecordedEvent } from '../../events/envelope.js';
import type { Projection } from '../../projections/projection.js';
import type { TestDatabase } from './testDatabase.js';

/**
 * The steps of a projection spec: `given` applies a batch once; `when` applies it twice, each
 * time in its own transaction, as a redelivery would.
 */
export const projectionSteps = (
  t: TestDatabase,
  projection: Projection,
): { given(events: RecordedEvent[]): Promise<void>; when(events: RecordedEvent[]): Promise<void> } => {
  const apply = async (events: RecordedEvent[], times: number): Promise<void> => {
    for (let i = 0; i < times; i += 1) {
      await t.db.transaction().execute((trx) => projection.apply(trx, events));
    }
  };
  return { given: (events) => apply(events, 1), when: (events) => apply(events, 2) };
};
