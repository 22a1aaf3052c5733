import type { SendParams } from '../../../actors/notifications/index.js';
import { silentLogger, type EffectContext, type EffectHandlersFor, type Logger } from '../../../actors/runtime/index.js';
import type { ChannelConfig } from './channelConfig.js';
import { NotificationSendError } from './notificationSendError.js';
import { sendNotification } from './sendNotification.js';
import type { notificationEffectActions } from '../../../actors/notifications/notification.machine.js';

/** The handlers the machine's effect actions need (a missing or misspelled one does not compile). */
export type NotificationEffects = EffectHandlersFor<typeof notificationEffectActions>;

export interface NotificationEffectsOptions {
  /** The channels by name, as configured now: secrets stay in the configuration, not in events. */
  readonly channels: () => Readonly<Record<string, ChannelConfig>>;
  readonly logger?: Logger;
}

/**
 * The notification's `send` effect: one attempt on its channel. The outcome is an event either
 * way (`sent`, or `attemptFailed` saying whether a retry may help); the machine decides the retry.
 */
export const createNotificationEffects = (options: NotificationEffectsOptions): NotificationEffects => {
  const logger = options.logger ?? silentLogger;
  return {
    send: async (params: SendParams, context: EffectContext) => {
      const channel = options.channels()[params.channel];
      if (channel === undefined) {
        return { type: 'attemptFailed', data: { attempt: params.attempt, retryable: false, message: `no channel ${params.channel} in the configuration` } };
      }
      try {
        const detail = await sendNotification(channel, { id: context.id, rule: params.rule, attempt: params.attempt, message: params.message, trigger: params.trigger });
        logger.info({ notification: context.id, channel: params.channel, attempt: params.attempt, detail }, 'notification sent');
        return { type: 'sent', data: { attempt: params.attempt, detail } };
      } catch (e) {
        const retryable = e instanceof NotificationSendError ? e.retryable : false;
        const message = e instanceof Error ? e.message : String(e);
        logger.warn({ notification: context.id, channel: params.channel, attempt: params.attempt, retryable, err: e }, 'notification not sent');
        return { type: 'attemptFailed', data: { attempt: params.attempt, retryable, message } };
      }
    },
  };
};
