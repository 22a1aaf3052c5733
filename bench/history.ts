import { createHash, randomUUID } from 'node:crypto';
import { transition } from 'xstate';
import { demoActor, demoEventSchemas } from '../actors/demo/index.js';
import { defineActor, type EventInput, type MachineEvent } from '../actors/runtime/actorDefinition.js';
import { initialSnapshot } from '../actors/runtime/rehydrate.js';
import { isFinal, stateOf } from '../actors/runtime/stateOf.js';
import type { EventEnvelope, RecordedEvent } from '../events/envelope.js';
import { EventSchemas } from '../events/eventSchemas.js';

/** The demo actor as the runtime hosts it. */
export const demoDefinition = defineActor(demoActor);

const schemas = new EventSchemas();
schemas.register(demoDefinition.kind, demoEventSchemas);

const encoder = new TextEncoder();

/** The bytes the JetStream store publishes for an envelope (it stores JSON of the envelope's own fields). */
export const payloadOf = (event: EventEnvelope): Uint8Array => encoder.encode(JSON.stringify(event));

/**
 * The `i`-th machine event of a long-lived demo actor: `started`, then the cycle
 * noted → tickDue → stepDone (an operator note, the deadline passing, the work effect's result).
 * The actor never finishes, so a history can be as long as wanted.
 */
const inputAt = (id: string, version: number, label: string): EventInput => {
  if (version === 1) {
    return { type: 'started', data: { steps: 100_000, intervalMs: 60_000, label, failAtStep: null } };
  }
  const cycle = Math.floor((version - 2) / 3);
  const step = cycle + 1;
  switch ((version - 2) % 3) {
    case 0:
      return { type: 'noted', data: { text: `operator note ${cycle}: beam current checked, ok to continue` } };
    case 1:
      return { type: 'tickDue', data: { step } };
    default: {
      const result = createHash('sha256').update(`${id}:${label}:${step}`).digest('hex').slice(0, 16);
      return { type: 'stepDone', data: { step, result } };
    }
  }
};

export interface DemoHistoryOptions {
  readonly id?: string;
  /** Number of events (versions 1..events). */
  readonly events: number;
  /** Time of the first event; later ones follow 250 ms apart. */
  readonly start?: Date;
  readonly label?: string;
}

/**
 * A demo actor's history built the way ActorRuntime builds events: each transition computed by
 * the machine's pure `transition()`, the envelope validated by the event schemas, with the
 * fields (and field order) the runtime writes. The causation of effect outcomes and deadlines
 * is filled as the runtime would fill it.
 */
export const demoHistory = (options: DemoHistoryOptions): EventEnvelope[] => {
  const id = options.id ?? randomUUID();
  const label = options.label ?? `bench ${id.slice(0, 8)}`;
  const start = (options.start ?? new Date()).getTime();
  const correlationId = randomUUID();
  const events: EventEnvelope[] = [];
  let snapshot = initialSnapshot(demoDefinition, id);
  for (let version = 1; version <= options.events; version++) {
    const input = inputAt(id, version, label);
    const time = new Date(start + (version - 1) * 250).toISOString();
    const machineEvent: MachineEvent = { type: input.type, data: input.data, time };
    if (!snapshot.can(machineEvent)) {
      throw new Error(`bench history: ${input.type} not accepted in ${stateOf(snapshot)} at v${version}`);
    }
    const [next] = transition(demoDefinition.machine, snapshot, machineEvent);
    const internal = input.type === 'stepDone' || input.type === 'tickDue';
    events.push(
      schemas.validate<EventEnvelope>({
        id: randomUUID(),
        type: input.type,
        schemaVersion: schemas.currentVersion(demoDefinition.kind, input.type),
        actorKind: demoDefinition.kind,
        actorId: id,
        version,
        time,
        correlationId,
        causationId: input.type === 'stepDone' ? `demo.${id}.${version - 1}` : null,
        commandId: internal ? null : version === 1 ? `req-${id.slice(0, 8)}` : null,
        previousState: version === 1 ? null : stateOf(snapshot),
        state: stateOf(next),
        final: isFinal(next),
        summary: demoDefinition.summary(next as never),
        data: input.data,
      }),
    );
    snapshot = next;
  }
  return events;
};

/** Events of many actors, each actor's events in version order. */
export const demoHistories = (actors: number, eventsPerActor: number, start = new Date()): EventEnvelope[][] =>
  Array.from({ length: actors }, (_, i) =>
    demoHistory({ events: eventsPerActor, start, label: `bench actor ${String(i).padStart(5, '0')}` }),
  );

/** Envelopes as the store reads them back: with their position. */
export const recorded = (events: readonly EventEnvelope[], firstPosition = 1): RecordedEvent[] =>
  events.map((e, i) => ({ ...e, position: firstPosition + i }));

/** Round-robin interleaving of per-actor histories (actor 0 v1, actor 1 v1, …, actor 0 v2, …). */
export const interleave = <T>(perActor: readonly (readonly T[])[]): T[] => {
  const out: T[] = [];
  const longest = Math.max(0, ...perActor.map((h) => h.length));
  for (let v = 0; v < longest; v++) {
    for (const history of perActor) {
      const event = history[v];
      if (event !== undefined) out.push(event);
    }
  }
  return out;
};
