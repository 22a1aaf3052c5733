import { z } from 'zod';
import type { EventSchema } from '../../events/eventSchemas.js';
import { effectFailedSchema } from '../runtime/effectFailed.js';

export const missedPolicies = ['catchUp', 'skip'] as const;
export type MissedPolicy = (typeof missedPolicies)[number];

const time = z.iso.datetime({ offset: true });

/** What a schedule creates when it fires: a command of another actor kind, with its payload. */
export const scheduleTargetSchema = z.object({
  kind: z.string().min(1),
  command: z.string().min(1),
  payload: z.record(z.string(), z.unknown()),
});
export type ScheduleTarget = z.infer<typeof scheduleTargetSchema>;

export const scheduleEventSchemas = {
  created: {
    version: 1,
    schema: z.object({
      name: z.string().min(1),
      cron: z.string().min(1),
      timeZone: z.string().min(1),
      target: scheduleTargetSchema,
      missed: z.enum(missedPolicies),
      graceSeconds: z.number().int().min(0),
    }),
  },
  /** The `fire` deadline passed; `at` is the fire time it was armed for. */
  fireDue: { version: 1, schema: z.object({ at: time }) },
  fired: { version: 1, schema: z.object({ at: time, targetId: z.string().min(1), state: z.string() }) },
  fireFailed: { version: 1, schema: z.object({ at: time, message: z.string() }) },
  paused: { version: 1, schema: z.object({}) },
  resumed: { version: 1, schema: z.object({}) },
  removed: { version: 1, schema: z.object({ reason: z.string() }) },
  effectFailed: { version: 1, schema: effectFailedSchema },
} as const satisfies Record<string, EventSchema>;

type DataOf<K extends keyof typeof scheduleEventSchemas> = z.infer<(typeof scheduleEventSchemas)[K]['schema']>;

/** Machine events of the schedule actor: `{ type, data, time }` for each stored event type. */
export type ScheduleEvent = {
  [K in keyof typeof scheduleEventSchemas]: { type: K; data: DataOf<K>; time: string };
}[keyof typeof scheduleEventSchemas];
