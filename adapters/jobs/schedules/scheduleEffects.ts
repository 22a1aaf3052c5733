import type { ScheduleFireParams, ScheduleRefireParams, ScheduleTarget } from '../../../actors/schedules/index.js';
import type { EffectHandlersFor, EventInput } from '../../../actors/runtime/index.js';
import type { scheduleEffectActions } from '../../../actors/schedules/schedule.machine.js';

/** The handlers the machine's effect actions need (a missing or misspelled one does not compile). */
export type ScheduleEffects = EffectHandlersFor<typeof scheduleEffectActions>;

/** What a fire does: create the target actor (the app prepares the payload for the fire time). */
export type FireTarget = (
  target: ScheduleTarget,
  at: Date,
  requestId: string,
  scheduleId: string,
) => Promise<{ id: string; state: string }>;

/**
 * The request id of one fire: the same for every attempt at that fire time, so a fire re-run
 * after a crash gets the first answer instead of a second target.
 */
export const fireRequestId = (scheduleId: string, at: string): string => `schedule-${scheduleId}-${Date.parse(at)}`;

const fireOnce = async (fire: FireTarget, params: ScheduleFireParams): Promise<EventInput> => {
  try {
    const created = await fire(params.target, new Date(params.at), fireRequestId(params.scheduleId, params.at), params.scheduleId);
    return { type: 'fired', data: { at: params.at, targetId: created.id, state: created.state } };
  } catch (e) {
    // A refused target (bad payload, unknown kind) is the schedule's news, not a crash: the
    // schedule records it and fires again at its next time.
    return { type: 'fireFailed', data: { at: params.at, message: e instanceof Error ? e.message : String(e) } };
  }
};

/** The schedule kind's effects: `fire` for a due fire, `refire` for those a restart found without an outcome. */
export const createScheduleEffects = (options: { fire: FireTarget }): ScheduleEffects => ({
  fire: (params: ScheduleFireParams) => fireOnce(options.fire, params),
  refire: async (params: ScheduleRefireParams) => {
    const outcomes: EventInput[] = [];
    for (const pending of params.fires) outcomes.push(await fireOnce(options.fire, pending));
    return outcomes;
  },
});
