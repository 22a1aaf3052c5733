// Compiled by `npm run typecheck` only: each `@ts-expect-error` below must meet an error, or tsc
// fails with "Unused '@ts-expect-error' directive". It proves that effect handlers are typed from
// the machine's effect actions.
import { demoActor } from '../../actors/demo/demo.actor.js';
import type { demoEffectActions } from '../../actors/demo/demo.machine.js';
import type { EffectHandlersFor } from '../../actors/runtime/actorDefinition.js';
import { defineJobModule } from '../../adapters/jobs/jobModule.js';

type DemoEffects = EffectHandlersFor<typeof demoEffectActions>;

export const complete: DemoEffects = {
  work: async (params) => ({ type: 'stepDone', data: { step: params.step, result: params.label } }),
};

// @ts-expect-error a misspelled effect: `wrok` is no action of the demo machine, and `work` has no handler
export const misspelled: DemoEffects = { wrok: async () => undefined };

// @ts-expect-error a missing effect
export const missing: DemoEffects = {};

export const wrongParams: DemoEffects = {
  // @ts-expect-error the params are the machine's: `step` is a number
  work: async (params: { step: string }) => ({ type: 'stepDone', data: { step: params.step } }),
};

export const misspelledInModule = defineJobModule({
  name: 'demo',
  storedKind: demoActor.kind,
  definition: demoActor,
  // @ts-expect-error a module's effects are checked against its machine too
  effects: async () => ({ wrok: async () => undefined }),
});
