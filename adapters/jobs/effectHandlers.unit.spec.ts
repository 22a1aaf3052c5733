import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { isEffectAction } from '../../actors/runtime/actorDefinition.js';
import { loadConfig } from '../config/config.js';
import type { JobContext } from './jobModule.js';
import { jobModules } from './registry.js';

// Only what building the handlers reads; a handler that ran would find the rest missing.
const contextFor = (): JobContext =>
  ({
    config: loadConfig({ env: {}, cwd: '/tmp/daqflow-effects-spec' }),
    logger: pino({ level: 'silent' }),
  }) as unknown as JobContext;

describe('effect handlers of every registered kind', () => {
  it.each(jobModules.map((m) => [m.name, m] as const))('%s: every action of the machine is an effect or a built-in, and every effect has a handler', async (_, module) => {
    const { machine, effects: declared } = module.definition;
    const actions = Object.entries((machine.implementations.actions ?? {}) as Record<string, unknown>);
    expect(actions.length).toBeGreaterThan(0);
    for (const [name, action] of actions) {
      // A plain function would be run by nobody: the runtime only collects requests.
      const builtIn = typeof action === 'function' && String((action as { type?: unknown }).type).startsWith('xstate.');
      expect(isEffectAction(action) || builtIn, `${module.name}: action ${name}`).toBe(true);
      if (isEffectAction(action)) expect(Object.keys(declared), `${module.name}: effect ${name} declared`).toContain(name);
    }
    const handlers = await module.effects(contextFor());
    expect(Object.keys(handlers).sort()).toEqual(Object.keys(declared).sort());
    for (const handler of Object.values(handlers)) expect(typeof handler).toBe('function');
  });

  it('keeps the code and retryable flag of a thrown error in effectFailed', async () => {
    const { effectFailedData, effectFailedSchema } = await import('../../actors/runtime/effectFailed.js');
    const { DaqflowError } = await import('../../events/errors.js');
    const runnerDown = Object.assign(new DaqflowError('STORE_UNAVAILABLE', 'sbatch did not answer'), { retryable: true });
    expect(effectFailedData('submitJob', runnerDown)).toEqual({
      effect: 'submitJob',
      message: 'sbatch did not answer',
      code: 'STORE_UNAVAILABLE',
      retryable: true,
    });
    expect(effectFailedData('work', new Error('plain'))).toEqual({ effect: 'work', message: 'plain' });
    // The stored schema keeps both (a zod object drops keys it does not know).
    expect(effectFailedSchema.parse(effectFailedData('submitJob', runnerDown))).toMatchObject({ code: 'STORE_UNAVAILABLE', retryable: true });
  });
});
