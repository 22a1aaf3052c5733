import { demoActor } from '../../../actors/demo/index.js';
import { defineActor } from '../../../actors/runtime/actorDefinition.js';
import type { JobModule } from '../jobModule.js';

/**
 * The demo kind: a few steps of deterministic work, to see daqflow run, fail and replay a job.
 * The worked example of docs/contributing.md ("Adding a job kind").
 */
export const demoModule: JobModule = {
  name: 'demo',
  storedKind: demoActor.kind,
  definition: defineActor(demoActor),
  service: {},
  effects: async () => (await import('./demoEffects.js')).createDemoEffects(),
  registerCli: async (program) => (await import('./demoCli.js')).registerDemoCommand(program),
};
