import type { Command } from 'commander';
import { ValidationError } from '../../../events/errors.js';
import { NotificationSendError } from './notificationSendError.js';
import { notificationSettings } from './notificationSettings.js';
import { sendNotification } from './sendNotification.js';
import { cliContext, withGlobalOptions, type GlobalOptions } from '../../cli/context.js';

/** `daqflow notify test <channel>`: one test message, sent now from this process, with the channel's answer. */
export const runNotifyTest = async (channelName: string, options: GlobalOptions): Promise<void> => {
  const { config } = cliContext(options, { logLevel: 'warn' });
  const settings = notificationSettings(config);
  const channel = settings.channels[channelName];
  if (channel === undefined) {
    const known = Object.keys(settings.channels);
    throw new ValidationError(
      `no notification channel ${channelName}: ${known.length ? `the configuration has ${known.join(', ')}` : 'none is configured (notify.channels in the --config file, or DAQFLOW_NOTIFY_WEBHOOK)'}`,
    );
  }
  const now = new Date().toISOString();
  try {
    const detail = await sendNotification(channel, {
      id: `test-${Date.now().toString(36)}`,
      rule: 'test',
      attempt: 1,
      trigger: { kind: 'test', id: channelName, state: 'test', position: 0, time: now },
      message: {
        title: `daqflow: test message to ${channelName}`,
        fields: [
          { name: 'sent at', value: now },
          { name: 'rules using this channel', value: settings.rules.filter((r) => r.channel === channelName).map((r) => r.name).join(', ') || 'none' },
        ],
        link: settings.linkBase,
        event: null,
      },
    });
    process.stdout.write(`sent to ${channelName} (${channel.type}): ${detail}\n`);
  } catch (e) {
    if (e instanceof NotificationSendError) {
      throw new ValidationError(`not sent to ${channelName} (${channel.type}): ${e.message}${e.retryable ? ' (a later attempt may work)' : ''}`);
    }
    throw e;
  }
};

export const registerNotifyCommands = (program: Command): void => {
  const notify = program
    .command('notify')
    .description('notifications of jobs that end, fail or lose data (docs/notifications.md)');
  withGlobalOptions(
    notify
      .command('test')
      .description('send a test message to a configured channel and print what it answered')
      .argument('<channel>', 'a channel name under notify.channels, or default for DAQFLOW_NOTIFY_WEBHOOK')
      .addHelpText(
        'after',
        `
Examples:
  DAQFLOW_NOTIFY_WEBHOOK=https://chat.example.org/hooks/abc npx daqflow notify test default
  npx daqflow notify test beamline-mail --config daqflow.yaml

What was sent for jobs, and what failed: npx daqflow status --kind notification`,
      ),
  ).action((channel: string, _, command: Command) => runNotifyTest(channel, command.optsWithGlobals()));
};
