import { z } from 'zod';

const common = {
  /** How long one attempt may take (default 10 s): past it the attempt fails and is retried. */
  timeoutMs: z.number().int().min(100).max(300_000).default(10_000),
};

/** Where notifications go (docs/notifications.md). */
export const channelConfigSchema = z.discriminatedUnion('type', [
  z.strictObject({
    /** An incoming webhook of Mattermost or Slack: `{"text": …}`, markdown. */
    type: z.enum(['mattermost', 'slack']),
    url: z.string().url(),
    /** Shown as the sender where the server allows it. */
    username: z.string().min(1).optional(),
    ...common,
  }),
  z.strictObject({
    /** Any tool: the event's envelope and the message, as JSON. */
    type: z.literal('webhook'),
    url: z.string().url(),
    headers: z.record(z.string(), z.string()).default({}),
    ...common,
  }),
  z.strictObject({
    type: z.literal('email'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65_535).default(587),
    /** TLS from the first byte (port 465); otherwise STARTTLS when `starttls`. */
    secure: z.boolean().default(false),
    /** Refuse to send unless the server upgrades the connection with STARTTLS. */
    starttls: z.boolean().default(true),
    user: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    /** A file holding the password, so that it need not be in the configuration. */
    passwordFile: z.string().min(1).optional(),
    /** Accept a server certificate no CA vouches for (a test server): off by default. */
    allowUntrustedCertificate: z.boolean().default(false),
    from: z.string().min(3),
    to: z.array(z.string().min(3)).min(1),
    ...common,
  }),
]);
export type ChannelConfig = z.infer<typeof channelConfigSchema>;
