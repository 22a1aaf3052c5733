import { assign, setup } from 'xstate';
import { effect, type Deadline } from '../runtime/actorDefinition.js';
import type { NotificationEvent, NotificationMessage, NotificationTrigger } from './notification.events.js';

export interface NotificationContext {
  readonly id: string;
  readonly rule: string;
  readonly channel: string;
  readonly trigger: NotificationTrigger | null;
  readonly message: NotificationMessage | null;
  readonly maxAttempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** The attempt in flight or last made (1 on the first). */
  readonly attempt: number;
  readonly lastError: string | null;
  readonly detail: string | null;
  readonly requestedAt: string | null;
  readonly finishedAt: string | null;
  readonly deadlines: Readonly<Record<string, Deadline>>;
}

/** Parameters of the `send` effect. */
export interface SendParams {
  readonly rule: string;
  readonly channel: string;
  readonly attempt: number;
  readonly message: NotificationMessage;
  readonly trigger: NotificationTrigger;
}

const plusMs = (time: string, ms: number): string => new Date(Date.parse(time) + ms).toISOString();

/** Backoff before attempt `next`: the initial delay, doubling, at most the maximum. */
export const retryDelayMs = (c: Pick<NotificationContext, 'initialDelayMs' | 'maxDelayMs'>, next: number): number =>
  Math.min(c.maxDelayMs, c.initialDelayMs * 2 ** Math.max(0, next - 2));

export const sendParams = (c: NotificationContext, attempt: number): SendParams => ({
  rule: c.rule,
  channel: c.channel,
  attempt,
  message: c.message as NotificationMessage,
  trigger: c.trigger as NotificationTrigger,
});

/** The effects this machine requests, with their params; `adapters/jobs/notifications/notificationEffects.ts` implements them. */
export const notificationEffectActions = {
  send: effect<SendParams>(),
};

/**
 * One message to one channel, on record: `send` is the effect; a failed attempt that may succeed
 * later is retried on a durable deadline with backoff, up to `maxAttempts`; then, or on a refusal
 * that no retry can mend, the notification ends `failed` with the reason.
 */
export const notificationMachine = setup({
  types: {
    context: {} as NotificationContext,
    events: {} as NotificationEvent,
    input: {} as { id: string },
  },
  actions: {
    ...notificationEffectActions,
  },
  guards: {
    isCurrentAttempt: ({ context, event }) =>
      (event.type === 'sent' || event.type === 'attemptFailed' || event.type === 'retryDue') && event.data.attempt === context.attempt,
    isNextAttempt: ({ context, event }) => event.type === 'retryDue' && event.data.attempt === context.attempt + 1,
    mayRetry: ({ context, event }) =>
      event.type === 'attemptFailed' && event.data.attempt === context.attempt && event.data.retryable && context.attempt < context.maxAttempts,
  },
}).createMachine({
  id: 'notification',
  context: ({ input }) => ({
    id: input.id,
    rule: '',
    channel: '',
    trigger: null,
    message: null,
    maxAttempts: 1,
    initialDelayMs: 0,
    maxDelayMs: 0,
    attempt: 0,
    lastError: null,
    detail: null,
    requestedAt: null,
    finishedAt: null,
    deadlines: {},
  }),
  initial: 'idle',
  states: {
    idle: {
      on: {
        requested: {
          target: 'sending',
          actions: [
            assign(({ event }) => ({
              rule: event.data.rule,
              channel: event.data.channel,
              trigger: event.data.trigger,
              message: event.data.message,
              maxAttempts: event.data.maxAttempts,
              initialDelayMs: event.data.initialDelayMs,
              maxDelayMs: event.data.maxDelayMs,
              attempt: 1,
              requestedAt: event.time,
            })),
            {
              type: 'send',
              params: ({ event }) => ({
                rule: event.data.rule,
                channel: event.data.channel,
                attempt: 1,
                message: event.data.message,
                trigger: event.data.trigger,
              }),
            },
          ],
        },
      },
    },
    sending: {
      on: {
        sent: {
          guard: 'isCurrentAttempt',
          target: 'sent',
          actions: assign(({ event }) => ({ detail: event.data.detail, finishedAt: event.time })),
        },
        attemptFailed: [
          {
            guard: 'mayRetry',
            target: 'waiting',
            actions: assign(({ context, event }) => ({
              lastError: event.data.message,
              deadlines: {
                retry: {
                  at: plusMs(event.time, retryDelayMs(context, context.attempt + 1)),
                  event: { type: 'retryDue', data: { attempt: context.attempt + 1 } },
                },
              },
            })),
          },
          {
            guard: 'isCurrentAttempt',
            target: 'failed',
            actions: assign(({ context, event }) => ({
              lastError: event.data.retryable
                ? `gave up after ${context.attempt} attempts: ${event.data.message}`
                : event.data.message,
              finishedAt: event.time,
            })),
          },
        ],
        effectFailed: {
          target: 'failed',
          actions: assign(({ event }) => ({ lastError: `${event.data.effect}: ${event.data.message}`, finishedAt: event.time })),
        },
      },
    },
    waiting: {
      on: {
        retryDue: {
          guard: 'isNextAttempt',
          target: 'sending',
          actions: [
            assign(({ context }) => ({ attempt: context.attempt + 1, deadlines: {} })),
            { type: 'send', params: ({ context, event }) => sendParams(context, event.data.attempt) },
          ],
        },
      },
    },
    sent: { type: 'final' },
    failed: { type: 'final' },
  },
});
