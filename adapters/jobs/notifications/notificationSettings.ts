import { notificationRuleSchema, type NotificationRule } from '../../../actors/notifications/notificationRules.js';
import type { DaqflowConfig } from '../../config/config.js';
import { channelConfigSchema, type ChannelConfig } from './channelConfig.js';

export interface NotificationSettings {
  readonly channels: Readonly<Record<string, ChannelConfig>>;
  readonly rules: readonly NotificationRule[];
  /** Address of the status page, for links; null when none is configured. */
  readonly linkBase: string | null;
}

/**
 * The channels and rules in force: the configuration file's `notify`, and for the simplest case
 * DAQFLOW_NOTIFY_WEBHOOK as a channel and a rule both named `default` (docs/notifications.md).
 */
export const notificationSettings = (
  config: Pick<DaqflowConfig, 'notify' | 'notifyWebhook' | 'notifyOn' | 'notifyLinkBase'>,
): NotificationSettings => {
  const channels: Record<string, ChannelConfig> = { ...(config.notify?.channels ?? {}) };
  const rules: NotificationRule[] = [...(config.notify?.rules ?? [])];
  if (config.notifyWebhook !== undefined) {
    channels.default ??= channelConfigSchema.parse({ type: 'mattermost', url: config.notifyWebhook });
    if (!rules.some((r) => r.name === 'default')) {
      rules.push(notificationRuleSchema.parse({ name: 'default', channel: 'default', on: config.notifyOn }));
    }
  }
  return { channels, rules, linkBase: config.notifyLinkBase ?? null };
};
