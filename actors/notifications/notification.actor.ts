import { z } from 'zod';
import { command, type ActorDefinition } from '../runtime/actorDefinition.js';
import { notificationEventSchemas, notificationMessageSchema, notificationTriggerSchema } from './notification.events.js';
import { notificationMachine, notificationEffectActions, sendParams, type NotificationContext } from './notification.machine.js';

const summaryOf = (c: NotificationContext): Record<string, unknown> => ({
  rule: c.rule,
  channel: c.channel,
  title: c.message?.title ?? null,
  about: c.trigger ? { kind: c.trigger.kind, id: c.trigger.id, state: c.trigger.state } : null,
  attempt: c.attempt,
  maxAttempts: c.maxAttempts,
  retryAt: c.deadlines.retry?.at ?? null,
  requestedAt: c.requestedAt,
  finishedAt: c.finishedAt,
  ...(c.detail ? { detail: c.detail } : {}),
  ...(c.lastError ? { error: c.lastError } : {}),
});

/**
 * A notification: one message of one rule to one channel (docs/notifications.md). Created by the
 * notifier with a request id made of the rule and the triggering event, so that the same event
 * never makes two notifications, whichever process sees it and however often.
 */
export const notificationActor: ActorDefinition<typeof notificationMachine, typeof notificationEffectActions> = {
  kind: 'notification',
  machine: notificationMachine,
  effects: notificationEffectActions,
  eventSchemas: notificationEventSchemas,
  commands: {
    request: command({
      creates: true,
      schema: z.strictObject({
        rule: z.string().min(1).max(200),
        channel: z.string().min(1).max(200),
        trigger: notificationTriggerSchema,
        message: notificationMessageSchema,
        maxAttempts: z.number().int().min(1).max(100).default(5),
        initialDelayMs: z.number().int().min(0).max(3_600_000).default(2_000),
        maxDelayMs: z.number().int().min(0).max(86_400_000).default(300_000),
      }),
      toEvent: (p) => ({ type: 'requested', data: p }),
    }),
  },
  summary: (snapshot) => summaryOf(snapshot.context),
  // A send that was under way when the process stopped is made again: the receiver gets the same
  // idempotency key (docs/notifications.md), so one that honours it keeps one message.
  recover: (snapshot) => (snapshot.value === 'sending' ? [{ type: 'send', params: sendParams(snapshot.context, snapshot.context.attempt) }] : []),
};
