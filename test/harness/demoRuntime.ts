import { demoActor } from '../../actors/demo/index.js';
import { defineActor } from '../../actors/runtime/actorDefinition.js';
import { ActorRuntime, type ActorRuntimeOptions } from '../../actors/runtime/actorRuntime.js';
import { createDemoEffects } from '../../adapters/jobs/demo/demoEffects.js';
import { newId } from '../../adapters/ids.js';
import { EventSchemas } from '../../events/eventSchemas.js';
import type { EventStore } from '../../events/eventStore.js';

/** A runtime hosting the demo kind over `store`, with the demo effects and fresh schemas; `options` win. */
export const createDemoRuntime = (store: EventStore, options: Partial<ActorRuntimeOptions> = {}): ActorRuntime =>
  new ActorRuntime({
    store,
    schemas: new EventSchemas(),
    definitions: [defineActor(demoActor)],
    effects: { demo: createDemoEffects() },
    newId,
    ...options,
  });
