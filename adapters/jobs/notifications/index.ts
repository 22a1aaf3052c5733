import { notificationActor } from '../../../actors/notifications/index.js';
import type { DaqflowConfig } from '../../config/config.js';
import { defineJobModule } from '../jobModule.js';
import type { NotificationSettings } from './notificationSettings.js';

// The effects and the notifier read one set of channels and rules per configuration.
const settingsByConfig = new WeakMap<DaqflowConfig, NotificationSettings>();
const settingsOf = async (config: DaqflowConfig): Promise<NotificationSettings> => {
  const known = settingsByConfig.get(config);
  if (known) return known;
  const settings = (await import('./notificationSettings.js')).notificationSettings(config);
  settingsByConfig.set(config, settings);
  return settings;
};

/** Notifications: a message per matching job event or daily digest, to mail or chat; started by the notifier, not by the API. */
export const notificationsModule = defineJobModule({
  name: 'notifications',
  storedKind: notificationActor.kind,
  definition: notificationActor,
  effects: async (context) => {
    const settings = await settingsOf(context.config);
    return (await import('./notificationEffects.js')).createNotificationEffects({
      channels: () => settings.channels,
      logger: context.logger,
    });
  },
  start: async (context) => {
    const settings = await settingsOf(context.config);
    if (!settings.rules.length) return [];
    const { startNotifier } = await import('./startNotifier.js');
    const notifier = startNotifier({
      store: context.store,
      runtime: context.runtime(),
      db: context.db,
      settings,
      timeZone: context.config.timeZone,
      logger: context.logger,
    });
    return [{ name: 'notifier', stopWith: 'requests', stop: () => notifier.stop() }];
  },
  registerCli: async (program) => (await import('./notifyCli.js')).registerNotifyCommands(program),
});
