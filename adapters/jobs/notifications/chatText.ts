import type { NotificationMessage } from '../../../actors/notifications/index.js';

/** The message as one markdown text, as Mattermost and Slack incoming webhooks take it. */
export const chatText = (message: NotificationMessage): string =>
  [
    `**${message.title}**`,
    ...message.fields.map((f) => `- ${f.name}: ${f.name === 'error' ? `\`${f.value.replace(/`/g, "'")}\`` : f.value}`),
    ...(message.link ? [`[open in daqflow](${message.link})`] : []),
  ].join('\n');

/** The same as plain text, for e-mail. */
export const plainText = (message: NotificationMessage): string =>
  [message.title, '', ...message.fields.map((f) => `${f.name}: ${f.value}`), ...(message.link ? ['', message.link] : [])].join('\n');
