import { demoActor } from '../../../actors/demo/index.js';
import { defineJobModule } from '../jobModule.js';

/**
 * The demo kind: a few steps of deterministic work, to see daqflow run, fail and replay a job.
 * The worked example of docs/contributing.md ("Adding a job kind").
 */
export const demoModule = defineJobModule({
  name: 'demo',
  storedKind: demoActor.kind,
  definition: demoActor,
  service: {},
  effects: async () => (await import('./demoEffects.js')).createDemoEffects(),
  registerCli: async (program) => (await import('./demoCli.js')).registerDemoCommand(program),
});
