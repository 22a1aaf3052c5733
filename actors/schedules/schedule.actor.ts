import { z } from 'zod';
import { tokenPattern } from '../../events/envelope.js';
import { command, type ActorDefinition } from '../runtime/actorDefinition.js';
import { cronProblem, timeZoneProblem } from './nextFireTime.js';
import { missedPolicies, scheduleEventSchemas } from './schedule.events.js';
import { scheduleMachine, scheduleEffectActions, type ScheduleFireParams } from './schedule.machine.js';

/** A fire later than this after its time is a missed one (default of `graceSeconds`). */
export const DEFAULT_GRACE_SECONDS = 60;

const token = z.string().regex(tokenPattern, '1-128 of A-Z a-z 0-9 _ -');

/** A cron expression as schedules take it (five fields, or six with seconds first). */
export const cronSchema = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .superRefine((cron, ctx) => {
    const problem = cronProblem(cron);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `not a cron expression: ${problem}` });
  });

/** An IANA time zone as schedules take it. */
export const timeZoneSchema = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .superRefine((timeZone, ctx) => {
    const problem = timeZoneProblem(timeZone);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });

/** The body of `<prefix>.schedules.create`. */
export const scheduleCreateSchema = z.strictObject({
  name: z.string().trim().min(1).max(200),
  cron: cronSchema,
  // A pure file cannot read the host's zone: the API fills the configured one in when absent.
  timeZone: timeZoneSchema.default('UTC'),
  target: z.strictObject({
    kind: token,
    command: token,
    payload: z.record(z.string(), z.unknown()).default({}),
  }),
  missed: z.enum(missedPolicies).default('catchUp'),
  graceSeconds: z.number().int().min(0).max(7 * 86_400).default(DEFAULT_GRACE_SECONDS),
});
export type ScheduleCreateRequest = z.input<typeof scheduleCreateSchema>;

/** Parameters of the `refire` effect: the fires whose outcomes a restart found missing. */
export interface ScheduleRefireParams {
  readonly fires: readonly ScheduleFireParams[];
}

export const scheduleActor: ActorDefinition<typeof scheduleMachine, typeof scheduleEffectActions> = {
  kind: 'schedule',
  machine: scheduleMachine,
  effects: scheduleEffectActions,
  eventSchemas: scheduleEventSchemas,
  commands: {
    create: command({
      creates: true,
      schema: scheduleCreateSchema,
      toEvent: (p) => ({ type: 'created', data: p }),
    }),
    pause: command({ schema: z.strictObject({}), toEvent: () => ({ type: 'paused', data: {} }) }),
    resume: command({ schema: z.strictObject({}), toEvent: () => ({ type: 'resumed', data: {} }) }),
    remove: command({
      schema: z.strictObject({ reason: z.string().max(1_000).default('') }),
      toEvent: (p) => ({ type: 'removed', data: { reason: p.reason } }),
    }),
  },
  summary: ({ context }) => ({
    name: context.name,
    cron: context.cron,
    timeZone: context.timeZone,
    target: { kind: context.target.kind, command: context.target.command },
    missed: context.missed,
    nextFireAt: context.deadlines.fire?.at ?? null,
    lastFireAt: context.lastFireAt,
    lastTargetId: context.lastTargetId,
    fires: context.fires,
    skipped: context.skipped,
    failures: context.failures,
    ...(context.firing.length ? { firing: context.firing.length } : {}),
    ...(context.lastError ? { lastError: context.lastError } : {}),
  }),
  // The process may have died between a fire and its outcome: fire again. The effect derives
  // its request id from the schedule and the fire time, so a target created then is not created
  // twice. All pending fires go in one request because the runtime keys the outcomes of
  // recovered effects by version and outcome index: two requests would collide.
  recover: ({ context }) =>
    context.firing.length
      ? [
          {
            type: 'refire',
            params: {
              fires: context.firing.map(
                (pending): ScheduleFireParams => ({
                  scheduleId: context.id,
                  at: pending.at,
                  caughtUp: pending.caughtUp,
                  target: context.target,
                }),
              ),
            } satisfies ScheduleRefireParams,
          },
        ]
      : [],
};
