import type { AnyMachineSnapshot } from 'xstate';
import type { RecordedEvent } from '../../events/envelope.js';
import { ReplayIncompatibleError } from '../../events/errors.js';
import type { ActorDefinition, MachineEvent } from './actorDefinition.js';
import { createPureTransitions } from './pureTransition.js';
import { stateOf } from './stateOf.js';

/** An actor rebuilt from its events. */
export interface Rehydrated {
  readonly snapshot: AnyMachineSnapshot;
  readonly version: number;
  /** Stream position of the newest event folded (0 before the first). */
  readonly position: number;
  readonly correlationId: string | undefined;
  /** Request ids already applied, with the version of the event each one produced. */
  readonly commandIds: ReadonlyMap<string, number>;
}

export const toMachineEvent = (event: RecordedEvent): MachineEvent => ({
  type: event.type,
  data: event.data,
  time: event.time,
});

/** The state of a new actor before its first event. */
export const initialSnapshot = (definition: ActorDefinition, id: string): AnyMachineSnapshot =>
  createPureTransitions(definition.machine, { id }).initial()[0];

/**
 * Folds stored events through the machine's pure transition function. No action runs: replay
 * never repeats a side effect. Each event's recorded state is checked against the state the
 * machine computes now, so a changed machine that no longer accepts an old history fails loudly.
 */
export const rehydrate = (
  definition: ActorDefinition,
  id: string,
  events: readonly RecordedEvent[],
  from?: Rehydrated,
): Rehydrated => {
  const transitions = createPureTransitions(definition.machine, { id });
  let snapshot = from?.snapshot ?? transitions.initial()[0];
  let version = from?.version ?? 0;
  let position = from?.position ?? 0;
  let correlationId = from?.correlationId;
  const commandIds = new Map(from?.commandIds);
  for (const event of events) {
    if (event.version !== version + 1) {
      throw new ReplayIncompatibleError(`${definition.kind} ${id}: version gap at ${event.version}`, {
        kind: definition.kind,
        id,
        expected: version + 1,
        found: event.version,
      });
    }
    const machineEvent = toMachineEvent(event);
    if (!snapshot.can(machineEvent)) {
      throw new ReplayIncompatibleError(
        `${definition.kind} ${id}: stored event ${event.type} v${event.version} is not accepted in state ${stateOf(snapshot)}`,
        { kind: definition.kind, id, version: event.version, type: event.type, state: stateOf(snapshot) },
      );
    }
    [snapshot] = transitions.next(snapshot, machineEvent);
    const computed = stateOf(snapshot);
    if (computed !== event.state) {
      throw new ReplayIncompatibleError(
        `${definition.kind} ${id}: event ${event.type} v${event.version} led to ${event.state} when recorded, to ${computed} now`,
        { kind: definition.kind, id, version: event.version, recorded: event.state, computed },
      );
    }
    version = event.version;
    position = event.position;
    correlationId ??= event.correlationId;
    if (event.commandId) commandIds.set(event.commandId, event.version);
  }
  return { snapshot, version, position, correlationId, commandIds };
};

/** The actor as it was at `time`: the fold of its events up to and including that time. */
export const rehydrateAt = (
  definition: ActorDefinition,
  id: string,
  events: readonly RecordedEvent[],
  time: Date,
): Rehydrated & { events: number } => {
  const upTo = events.filter((e) => Date.parse(e.time) <= time.getTime());
  return { ...rehydrate(definition, id, upTo), events: upTo.length };
};
