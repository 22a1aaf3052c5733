import { demoActor } from '../../actors/demo/index.js';
import { defineActor } from '../../actors/runtime/actorDefinition.js';
import { ActorRuntime, type ActorRuntimeOptions } from '../../actors/runtime/actorRuntime.js';
import { scheduleActor } from '../../actors/schedules/index.js';
import { createDemoEffects } from '../../adapters/jobs/demo/demoEffects.js';
import { newId } from '../../adapters/ids.js';
import { createScheduleEffects } from '../../adapters/jobs/schedules/scheduleEffects.js';
import { EventSchemas } from '../../events/eventSchemas.js';
import type { EventStore } from '../../events/eventStore.js';

type Created = { id: string; state: string };

/** Sees each target creation of a fire; may hold it. */
export type AroundFire = (created: Promise<Created>) => Promise<Created>;

/** The demo job a test schedule fires: one step an hour later, so it stays put while the spec looks. */
export const scheduledDemo = { kind: 'demo', command: 'start', payload: { steps: 1, intervalMs: 3_600_000, label: 'scheduled' } };

/**
 * A runtime hosting the schedule and demo kinds over `store`, whose `fire` creates the target
 * through the runtime itself, as the app does. `around` sees each creation, so a spec can hold a
 * fire after its target exists (a process dying before the outcome is stored).
 */
export const createScheduleRuntime = (
  store: EventStore,
  options: Partial<ActorRuntimeOptions> & { around?: AroundFire } = {},
): ActorRuntime => {
  const { around = (created) => created, ...runtimeOptions } = options;
  const fire = (target: { kind: string; command: string; payload: Record<string, unknown> }, _at: Date, requestId: string) =>
    around(
      runtime
        .create(target.kind, target.command, target.payload, { requestId })
        .then((view) => ({ id: view.id, state: view.state })),
    );
  const runtime: ActorRuntime = new ActorRuntime({
    store,
    schemas: new EventSchemas(),
    definitions: [defineActor(demoActor), defineActor(scheduleActor)],
    effects: { demo: createDemoEffects(), schedule: createScheduleEffects({ fire }) },
    newId,
    ...runtimeOptions,
  });
  return runtime;
};

/**
 * A clock that stands at `start` until `run()`, then runs at real speed from `start`: a test
 * creates its schedule before the fire time however long that takes on a loaded machine, then
 * lets the time come.
 */
export const heldClock = (start: string): { readonly clock: () => Date; run(): void } => {
  const at = Date.parse(start);
  let offset: number | undefined;
  return {
    clock: () => new Date(offset === undefined ? at : Date.now() + offset),
    run: () => {
      offset ??= at - Date.now();
    },
  };
};

/** A clock that runs at real speed from `start`. */
export const clockFrom = (start: string): (() => Date) => {
  const offset = Date.parse(start) - Date.now();
  return () => new Date(Date.now() + offset);
};
