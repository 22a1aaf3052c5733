import { randomUUID } from 'node:crypto';
import type { EventEnvelope, RecordedEvent } from '../../events/envelope.js';
import type { EventStore } from '../../events/eventStore.js';

/** An envelope of a 'demo' actor with a random id; `overrides` wins. */
export const demoEvent = (overrides: Partial<EventEnvelope> = {}): EventEnvelope => ({
  id: randomUUID(),
  type: 'demo.touched',
  schemaVersion: 1,
  actorKind: 'demo',
  actorId: randomUUID(),
  version: 1,
  time: new Date().toISOString(),
  correlationId: randomUUID(),
  causationId: null,
  commandId: null,
  previousState: null,
  state: 'idle',
  final: false,
  summary: {},
  data: { n: 1 },
  ...overrides,
});

/** ISO 8601 time `seconds` (plus `ms`) after a fixed instant: times that do not depend on the clock. */
export const demoTime = (seconds: number, ms = 0): string =>
  new Date(Date.UTC(2026, 10, 22) + seconds * 1_000 + ms).toISOString();

/**
 * Version `version` of demo actor `id` in a history of `versions` events, with nothing random:
 * event id `<id>-<version>`, caused by the version before, completed by the last version, its
 * time `version` seconds after a fixed instant. `overrides` wins.
 */
export const demoStep = (
  id: string,
  version: number,
  versions: number,
  overrides: Partial<EventEnvelope> = {},
): EventEnvelope =>
  demoEvent({
    id: `${id}-${version}`,
    type: version === versions ? 'DemoCompleted' : 'DemoProgressed',
    actorId: id,
    version,
    time: demoTime(version),
    correlationId: `corr-${id}`,
    causationId: version === 1 ? null : `${id}-${version - 1}`,
    previousState: version === 1 ? null : 'running',
    state: version === versions ? 'completed' : 'running',
    final: version === versions,
    summary: { step: version },
    data: { n: version },
    ...overrides,
  });

/** A demoStep as the store records it at `position`; its time follows the position, so rows are predictable. */
export const recordedDemoStep = (
  id: string,
  version: number,
  versions: number,
  position: number,
  overrides: Partial<EventEnvelope> = {},
): RecordedEvent => ({ ...demoStep(id, version, versions, { time: demoTime(position), ...overrides }), position });

/**
 * Appends versions `from` (default 1) to `versions` of every actor in `ids`, interleaved across
 * actors as real traffic would be, each made by `step` (default demoStep). Returns the last position.
 */
export const appendDemoHistories = async (
  store: EventStore,
  ids: readonly string[],
  versions: number,
  options: { readonly from?: number; readonly step?: typeof demoStep } = {},
): Promise<number> => {
  const { from = 1, step = demoStep } = options;
  let last = 0;
  for (let v = from; v <= versions; v += 1) {
    for (const id of ids) last = (await store.append(step(id, v, versions))).position;
  }
  return last;
};

/** What the demo machine implies for a completed job: started, then tickDue and stepDone per step. */
export const demoEventTypes = (steps: number): string[] => ['started', ...Array.from({ length: steps }, () => ['tickDue', 'stepDone']).flat()];
