import type { EffectHandlersFor } from '../../../../actors/runtime/actorDefinition.js';
import type { pingEffectActions } from '../../actors/pings/ping.machine.js';

/** The answer is the text upper-cased: deterministic, so a re-run after a crash gives the same. */
export const createPingEffects = (): EffectHandlersFor<typeof pingEffectActions> => ({
  answer: async (params) => ({ type: 'answered', data: { answer: params.text.toUpperCase() } }),
});
