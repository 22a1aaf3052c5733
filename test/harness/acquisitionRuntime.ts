import { acquisitionActor } from '../../actors/acquisitions/index.js';
import { defineActor } from '../../actors/runtime/actorDefinition.js';
import { ActorRuntime } from '../../actors/runtime/actorRuntime.js';
import { createAcquisitionEffects, type AcquisitionEffectsOptions } from '../../adapters/jobs/acquisitions/acquisitionEffects.js';
import type { BsreadSource } from '../../adapters/bsread/bsreadSource.js';
import { newId } from '../../adapters/ids.js';
import { EventSchemas } from '../../events/eventSchemas.js';
import type { EventStore } from '../../events/eventStore.js';

/** A runtime hosting acquisitions over `store`, reading `source`, writing inside `dataRoot`; progress every 100 ms. */
export const createAcquisitionRuntime = (
  store: EventStore,
  source: BsreadSource,
  dataRoot: string,
  effects: Partial<Omit<AcquisitionEffectsOptions, 'source' | 'dataRoot'>> = {},
): ActorRuntime =>
  new ActorRuntime({
    store,
    schemas: new EventSchemas(),
    definitions: [defineActor(acquisitionActor)],
    effects: { acquisition: createAcquisitionEffects({ source: () => source, dataRoot, progressIntervalMs: 100, ...effects }) },
    newId,
  });
