import { assign, setup } from 'xstate';
import { effect, type Deadline } from '../runtime/actorDefinition.js';
import type { ScheduleRefireParams } from './schedule.actor.js';
import { nextFireTime } from './nextFireTime.js';
import type { MissedPolicy, ScheduleEvent, ScheduleTarget } from './schedule.events.js';

/** A fire whose outcome is not stored yet: recovery issues it again (idempotently). */
export interface PendingFire {
  readonly at: string;
  readonly caughtUp: boolean;
}

/** Parameters of the `fire` effect, as the machine requests it. */
export interface ScheduleFireParams {
  readonly scheduleId: string;
  /** The fire time (the cron time it was due), also for a caught-up fire. */
  readonly at: string;
  readonly caughtUp: boolean;
  readonly target: ScheduleTarget;
}

export interface ScheduleContext {
  readonly id: string;
  readonly name: string;
  readonly cron: string;
  readonly timeZone: string;
  readonly target: ScheduleTarget;
  readonly missed: MissedPolicy;
  readonly graceSeconds: number;
  readonly createdAt: string | null;
  readonly firing: readonly PendingFire[];
  readonly fires: number;
  readonly failures: number;
  readonly skipped: number;
  readonly lastFireAt: string | null;
  readonly lastTargetId: string | null;
  readonly lastTargetState: string | null;
  readonly lastError: string | null;
  readonly removedAt: string | null;
  readonly deadlines: Readonly<Record<string, Deadline>>;
}

const laterOf = (a: string, b: string): string => (Date.parse(a) >= Date.parse(b) ? a : b);

const fireDeadline = (context: Pick<ScheduleContext, 'cron' | 'timeZone'>, after: string): Record<string, Deadline> => {
  const at = nextFireTime(context.cron, context.timeZone, after);
  return at === null ? {} : { fire: { at, event: { type: 'fireDue', data: { at } } } };
};

type FireDue = Extract<ScheduleEvent, { type: 'fireDue' }>;

// Only the deadline armed now may fire: a fireDue for a time the schedule has moved past (a
// resume re-armed it, another process fired it) is refused, and the runtime then drops it.
const isArmed = (context: ScheduleContext, event: ScheduleEvent): event is FireDue =>
  event.type === 'fireDue' && context.deadlines.fire?.at === event.data.at;

const isLate = (context: ScheduleContext, event: FireDue): boolean =>
  Date.parse(event.time) - Date.parse(event.data.at) > context.graceSeconds * 1_000;

const withoutFire = (firing: readonly PendingFire[], at: string): PendingFire[] => firing.filter((f) => f.at !== at);

const fireParams = (caughtUp: boolean) => ({
  type: 'fire' as const,
  params: ({ context, event }: { context: ScheduleContext; event: ScheduleEvent }): ScheduleFireParams => ({
    scheduleId: context.id,
    at: event.type === 'fireDue' ? event.data.at : '',
    caughtUp,
    target: context.target,
  }),
});

// Shared by active and paused: a fire in flight when paused still reports its outcome.
const outcomes = {
  fired: { guard: 'isFiring', actions: 'recordFired' },
  fireFailed: { guard: 'isFiring', actions: 'recordFireFailed' },
  effectFailed: { actions: 'recordEffectFailed' },
  removed: { target: 'removed', actions: 'markRemoved' },
} as const;

/** The effects this machine requests, with their params; `adapters/jobs/schedules/scheduleEffects.ts` implements them. */
export const scheduleEffectActions = {
  fire: effect<ScheduleFireParams>(),
  // Requested only by `recover`, after a restart.
  refire: effect<ScheduleRefireParams>(),
};

/**
 * A schedule: fires a command of another actor kind (a grab, a report) at the times of a cron
 * expression in a time zone. The next fire time is the `fire` deadline, so it survives restarts;
 * one that passed while daqflow was down is caught up once or skipped, as configured.
 */
export const scheduleMachine = setup({
  types: {
    context: {} as ScheduleContext,
    events: {} as ScheduleEvent,
    input: {} as { id: string },
  },
  actions: {
    // Implemented by the runtime's effect handlers; the machine only names it.
    ...scheduleEffectActions,
    configure: assign(({ event }) =>
      event.type === 'created'
        ? {
            name: event.data.name,
            cron: event.data.cron,
            timeZone: event.data.timeZone,
            target: event.data.target,
            missed: event.data.missed,
            graceSeconds: event.data.graceSeconds,
            createdAt: event.time,
            deadlines: fireDeadline(event.data, event.time),
          }
        : {},
    ),
    addFiring: assign(({ context, event }, params: { caughtUp: boolean }) =>
      event.type === 'fireDue' ? { firing: [...context.firing, { at: event.data.at, caughtUp: params.caughtUp }] } : {},
    ),
    // The next fire time counts from the event's time, not from the missed one, so that a
    // schedule that was down for days fires (or skips) once instead of once per missed time;
    // `at` guards a clock that reads slightly early, which would arm the same time again.
    advance: assign(({ context, event }) =>
      event.type === 'fireDue' ? { deadlines: fireDeadline(context, laterOf(event.time, event.data.at)) } : {},
    ),
    countSkipped: assign({ skipped: ({ context }) => context.skipped + 1 }),
    recordFired: assign(({ context, event }) =>
      event.type === 'fired'
        ? {
            firing: withoutFire(context.firing, event.data.at),
            fires: context.fires + 1,
            lastFireAt: event.data.at,
            lastTargetId: event.data.targetId,
            lastTargetState: event.data.state,
            lastError: null,
          }
        : {},
    ),
    recordFireFailed: assign(({ context, event }) =>
      event.type === 'fireFailed'
        ? {
            firing: withoutFire(context.firing, event.data.at),
            failures: context.failures + 1,
            lastError: `fire at ${event.data.at}: ${event.data.message}`,
          }
        : {},
    ),
    // The effects report their failures as fireFailed; this is a bug's way out. Its fires are
    // dropped rather than issued again at every restart.
    recordEffectFailed: assign(({ context, event }) =>
      event.type === 'effectFailed'
        ? { firing: [], failures: context.failures + 1, lastError: `${event.data.effect}: ${event.data.message}` }
        : {},
    ),
    disarm: assign({ deadlines: {} }),
    rearm: assign(({ context, event }) => ({ deadlines: fireDeadline(context, event.time) })),
    markRemoved: assign(({ event }) => ({ deadlines: {}, removedAt: event.time })),
  },
  guards: {
    dueOnTime: ({ context, event }) => isArmed(context, event) && !isLate(context, event),
    dueLateCatchUp: ({ context, event }) => isArmed(context, event) && isLate(context, event) && context.missed === 'catchUp',
    dueLateSkip: ({ context, event }) => isArmed(context, event) && isLate(context, event) && context.missed === 'skip',
    isFiring: ({ context, event }) =>
      (event.type === 'fired' || event.type === 'fireFailed') && context.firing.some((f) => f.at === event.data.at),
  },
}).createMachine({
  id: 'schedule',
  context: ({ input }) => ({
    id: input.id,
    name: '',
    cron: '',
    timeZone: 'UTC',
    target: { kind: '', command: '', payload: {} },
    missed: 'catchUp',
    graceSeconds: 0,
    createdAt: null,
    firing: [],
    fires: 0,
    failures: 0,
    skipped: 0,
    lastFireAt: null,
    lastTargetId: null,
    lastTargetState: null,
    lastError: null,
    removedAt: null,
    deadlines: {},
  }),
  initial: 'idle',
  states: {
    idle: {
      on: { created: { target: 'active', actions: 'configure' } },
    },
    active: {
      on: {
        fireDue: [
          { guard: 'dueOnTime', actions: [fireParams(false), { type: 'addFiring', params: { caughtUp: false } }, 'advance'] },
          { guard: 'dueLateCatchUp', actions: [fireParams(true), { type: 'addFiring', params: { caughtUp: true } }, 'advance'] },
          { guard: 'dueLateSkip', actions: ['countSkipped', 'advance'] },
        ],
        ...outcomes,
        paused: { target: 'paused', actions: 'disarm' },
      },
    },
    paused: {
      on: {
        ...outcomes,
        resumed: { target: 'active', actions: 'rearm' },
      },
    },
    removed: { type: 'final' },
  },
});
