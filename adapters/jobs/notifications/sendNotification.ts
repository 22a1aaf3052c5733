import type { NotificationMessage, NotificationTrigger } from '../../../actors/notifications/index.js';
import type { ChannelConfig } from './channelConfig.js';
import { chatText, plainText } from './chatText.js';
import { postWebhook } from './postWebhook.js';
import { sendEmail } from './sendEmail.js';

export interface OutgoingNotification {
  /** The notification's id: its idempotency key on every attempt. */
  readonly id: string;
  readonly rule: string;
  readonly attempt: number;
  readonly message: NotificationMessage;
  readonly trigger: NotificationTrigger;
}

/** The header a webhook receiver can use to drop a repeat (docs/notifications.md). */
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

/** Sends one notification on one channel; resolves with what the channel answered, or throws NotificationSendError. */
export const sendNotification = (channel: ChannelConfig, n: OutgoingNotification): Promise<string> => {
  switch (channel.type) {
    case 'mattermost':
    case 'slack':
      return postWebhook(
        channel.url,
        { text: chatText(n.message), ...(channel.username ? { username: channel.username } : {}) },
        { headers: { [IDEMPOTENCY_HEADER]: n.id }, timeoutMs: channel.timeoutMs },
      );
    case 'webhook':
      return postWebhook(
        channel.url,
        { notification: n.id, rule: n.rule, attempt: n.attempt, title: n.message.title, fields: n.message.fields, link: n.message.link, trigger: n.trigger, event: n.message.event },
        { headers: { ...channel.headers, [IDEMPOTENCY_HEADER]: n.id }, timeoutMs: channel.timeoutMs },
      );
    case 'email':
      return sendEmail(channel, {
        messageId: `<${n.id}@daqflow>`,
        subject: n.message.title,
        text: plainText(n.message),
        headers: { 'X-Daqflow-Notification': n.id },
      });
  }
};
