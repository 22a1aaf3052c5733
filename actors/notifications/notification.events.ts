import { z } from 'zod';
import type { EventSchema } from '../../events/eventSchemas.js';
import { effectFailedSchema } from '../runtime/effectFailed.js';

const time = z.string().min(1);

/** The job event a notification is about, as the rule saw it. */
export const notificationTriggerSchema = z.object({
  /** Actor kind and id of the job, or `digest` and the digest's day. */
  kind: z.string(),
  id: z.string(),
  state: z.string(),
  /** Stream position of the event that matched, 0 for a digest. */
  position: z.number().int().min(0),
  time,
});
export type NotificationTrigger = z.infer<typeof notificationTriggerSchema>;

/** What is sent, decided when the notification is requested, so that every attempt sends the same. */
export const notificationMessageSchema = z.object({
  /** One line: the subject of an e-mail, the first line of a chat message. */
  title: z.string(),
  /** The key figures, in order: file, rows or samples, duration, error. */
  fields: z.array(z.object({ name: z.string(), value: z.string() })),
  /** A link to the job, when there is a page to link to. */
  link: z.string().nullable(),
  /** The envelope of the triggering event, for the generic JSON webhook. */
  event: z.record(z.string(), z.unknown()).nullable(),
});
export type NotificationMessage = z.infer<typeof notificationMessageSchema>;

export const notificationEventSchemas = {
  requested: {
    version: 1,
    schema: z.object({
      rule: z.string(),
      channel: z.string(),
      trigger: notificationTriggerSchema,
      message: notificationMessageSchema,
      maxAttempts: z.number().int().min(1),
      initialDelayMs: z.number().int().min(0),
      maxDelayMs: z.number().int().min(0),
    }),
  },
  /** The channel took the message on this attempt. */
  sent: { version: 1, schema: z.object({ attempt: z.number().int().min(1), detail: z.string() }) },
  /** The channel refused or did not answer; `retryable` says whether another attempt may help. */
  attemptFailed: {
    version: 1,
    schema: z.object({ attempt: z.number().int().min(1), message: z.string(), retryable: z.boolean() }),
  },
  retryDue: { version: 1, schema: z.object({ attempt: z.number().int().min(1) }) },
  effectFailed: { version: 1, schema: effectFailedSchema },
} satisfies Record<string, EventSchema>;

type DataOf<K extends keyof typeof notificationEventSchemas> = z.infer<(typeof notificationEventSchemas)[K]['schema']>;

/** Machine events of the notification actor: `{ type, data, time }` for each stored event type. */
export type NotificationEvent = {
  [K in keyof typeof notificationEventSchemas]: { type: K; data: DataOf<K>; time: string };
}[keyof typeof notificationEventSchemas];
