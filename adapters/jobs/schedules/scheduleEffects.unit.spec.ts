import { describe, expect, it } from 'vitest';
import type { EffectContext } from '../../../actors/runtime/actorDefinition.js';
import type { ScheduleFireParams } from '../../../actors/schedules/index.js';
import { createScheduleEffects, fireRequestId, type FireTarget } from './scheduleEffects.js';

const context = { kind: 'schedule', id: 's-1', version: 2, correlationId: 'c', signal: new AbortController().signal } as EffectContext;
const target = { kind: 'grab', command: 'start', payload: { window: { days: 1 } } };
const params = (at: string, caughtUp = false): ScheduleFireParams => ({ scheduleId: 's-1', at, caughtUp, target });

describe('schedule effects', () => {
  it('fires with a request id of the schedule and the fire time, and reports the target', async () => {
    const calls: unknown[][] = [];
    const fire: FireTarget = async (...args) => {
      calls.push(args);
      return { id: 'grab-1', state: 'planning' };
    };
    const outcome = await createScheduleEffects({ fire }).fire?.(params('2025-06-01T01:00:00.000Z') as never, context);
    expect(outcome).toEqual({ type: 'fired', data: { at: '2025-06-01T01:00:00.000Z', targetId: 'grab-1', state: 'planning' } });
    expect(calls).toEqual([[target, new Date('2025-06-01T01:00:00.000Z'), 'schedule-s-1-1748739600000', 's-1']]);
    expect(fireRequestId('s-1', '2025-06-01T01:00:00.000Z')).toBe('schedule-s-1-1748739600000');
  });

  it('reports a refused fire as fireFailed, never as a throw', async () => {
    const fire: FireTarget = () => Promise.reject(new Error('invalid grab start: parameters: required'));
    await expect(createScheduleEffects({ fire }).fire?.(params('2025-06-01T01:00:00.000Z') as never, context)).resolves.toEqual({
      type: 'fireFailed',
      data: { at: '2025-06-01T01:00:00.000Z', message: 'invalid grab start: parameters: required' },
    });
  });

  it('fires again every fire a restart found without an outcome, one outcome each', async () => {
    const fire: FireTarget = async (_t, at) => {
      if (at.getUTCHours() === 2) throw new Error('down');
      return { id: `t-${at.getUTCHours()}`, state: 'waiting' };
    };
    const outcomes = await createScheduleEffects({ fire }).refire?.(
      { fires: [params('2025-06-01T01:00:00.000Z'), params('2025-06-01T02:00:00.000Z', true)] } as never,
      context,
    );
    expect(outcomes).toEqual([
      { type: 'fired', data: { at: '2025-06-01T01:00:00.000Z', targetId: 't-1', state: 'waiting' } },
      { type: 'fireFailed', data: { at: '2025-06-01T02:00:00.000Z', message: 'down' } },
    ]);
  });
});
