import { readFileSync } from 'node:fs';
import nodemailer from 'nodemailer';
import type { ChannelConfig } from './channelConfig.js';
import { NotificationSendError } from './notificationSendError.js';

type EmailConfig = Extract<ChannelConfig, { type: 'email' }>;

const passwordOf = (config: EmailConfig): string | undefined => {
  if (config.password !== undefined) return config.password;
  if (config.passwordFile === undefined) return undefined;
  try {
    return readFileSync(config.passwordFile, 'utf8').trim();
  } catch (e) {
    throw new NotificationSendError(`cannot read the SMTP password file ${config.passwordFile}: ${(e as Error).message}`, false, { cause: e });
  }
};

/**
 * Sends one e-mail over SMTP with nodemailer. `messageId` becomes the Message-ID, the same on
 * every attempt of one notification, so a mail system that drops repeats keeps one. SMTP's 4xx
 * answers and lost connections are worth another attempt; 5xx answers are refusals.
 */
export const sendEmail = async (
  config: EmailConfig,
  mail: { readonly messageId: string; readonly subject: string; readonly text: string; readonly headers: Readonly<Record<string, string>> },
): Promise<string> => {
  const password = passwordOf(config);
  const transport = nodemailer.createTransport({
    host: config.host,
    port: config.port,
    secure: config.secure,
    requireTLS: !config.secure && config.starttls,
    ignoreTLS: !config.secure && !config.starttls,
    ...(config.user !== undefined ? { auth: { user: config.user, pass: password ?? '' } } : {}),
    connectionTimeout: config.timeoutMs,
    greetingTimeout: config.timeoutMs,
    socketTimeout: config.timeoutMs,
    tls: { rejectUnauthorized: !config.allowUntrustedCertificate },
  });
  try {
    const info = await transport.sendMail({
      from: config.from,
      to: config.to,
      subject: mail.subject,
      text: mail.text,
      messageId: mail.messageId,
      headers: mail.headers,
    });
    return `SMTP ${String(info.response).slice(0, 200)}`;
  } catch (e) {
    const code = (e as { responseCode?: number }).responseCode;
    const retryable = code === undefined || (code >= 400 && code < 500);
    throw new NotificationSendError(`${config.host}:${config.port}: ${(e as Error).message}`, retryable, { cause: e });
  } finally {
    transport.close();
  }
};
