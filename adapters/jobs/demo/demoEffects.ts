import { createHash } from 'node:crypto';
import type { DemoWorkParams } from '../../../actors/demo/index.js';
import type { EffectHandlersFor } from '../../../actors/runtime/index.js';
import type { demoEffectActions } from '../../../actors/demo/demo.machine.js';

/** The handlers the machine's effect actions need (a missing or misspelled one does not compile). */
export type DemoEffects = EffectHandlersFor<typeof demoEffectActions>;

/**
 * The demo's `work` effect: a small deterministic computation per step (a digest of the actor id,
 * label and step), so that re-running a step after a crash gives the same result.
 */
export const createDemoEffects = (options: { workMs?: number } = {}): DemoEffects => ({
  work: async (params: DemoWorkParams, context) => {
    if (options.workMs) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.workMs);
        context.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    if (params.failAtStep === params.step) {
      throw new Error(`step ${params.step} failed as requested (failAtStep)`);
    }
    const result = createHash('sha256').update(`${context.id}:${params.label}:${params.step}`).digest('hex').slice(0, 16);
    return { type: 'stepDone', data: { step: params.step, result } };
  },
});
