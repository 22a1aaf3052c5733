import { z } from 'zod';
import type { RecordedEvent } from '../../events/envelope.js';
import type { NotificationMessage, NotificationTrigger } from './notification.events.js';

/** What a rule can fire on (docs/notifications.md). */
export const notificationTriggers = ['completed', 'failed', 'timed_out', 'cancelled', 'lostPulses', 'fireFailed', 'digest'] as const;
export type NotificationTriggerName = (typeof notificationTriggers)[number];

export const notificationRuleSchema = z.strictObject({
  /** Names the rule in notifications and in their request ids: keep it when editing a rule. */
  name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, '1-64 of A-Z a-z 0-9 _ -'),
  channel: z.string().min(1),
  on: z.array(z.enum(notificationTriggers)).min(1),
  /** Only jobs of these kinds (default: every kind). */
  kinds: z.array(z.string().min(1)).optional(),
  /** Only reports of this instrument. */
  instrument: z.string().min(1).optional(),
  /** Only this schedule (its name). */
  schedule: z.string().min(1).optional(),
  /** Only jobs with this label in their summary (demo jobs and others that carry one). */
  label: z.string().min(1).optional(),
  /** Time of day of the digest, `HH:MM` in DAQFLOW_TIMEZONE. */
  at: z
    .string()
    .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM')
    .optional(),
  maxAttempts: z.number().int().min(1).max(100).default(5),
  initialDelayMs: z.number().int().min(0).max(3_600_000).default(2_000),
  maxDelayMs: z.number().int().min(0).max(86_400_000).default(300_000),
});
export type NotificationRule = z.infer<typeof notificationRuleSchema>;

const finalStates = new Set<string>(['completed', 'failed', 'timed_out', 'cancelled']);

const record = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};

const lostCount = (summary: Record<string, unknown>): number => {
  const lost = record(summary.lostPulses);
  if (typeof lost.count === 'number') return lost.count;
  return typeof lost.from === 'number' && typeof lost.to === 'number' ? lost.to - lost.from + 1 : 0;
};

/** The event type without its kind prefix, however the store spells it. */
const typeOf = (event: RecordedEvent): string => event.type.slice(event.type.lastIndexOf('.') + 1);

/**
 * Which of the rule's triggers `event` fires, or null. Notifications' own events never fire a
 * rule, so that a failed notification cannot start a loop of them. One event fires a rule once.
 */
export const matchRule = (rule: NotificationRule, event: RecordedEvent): NotificationTriggerName | null => {
  if (event.actorKind === 'notification') return null;
  if (rule.kinds && !rule.kinds.includes(event.actorKind)) return null;
  const summary = record(event.summary);
  if (rule.instrument !== undefined) {
    const instruments = Array.isArray(summary.instruments) ? summary.instruments : [];
    if (!instruments.includes(rule.instrument)) return null;
  }
  if (rule.schedule !== undefined && !(event.actorKind === 'schedule' && summary.name === rule.schedule)) return null;
  if (rule.label !== undefined && summary.label !== rule.label) return null;
  if (rule.on.includes('fireFailed') && event.actorKind === 'schedule' && typeOf(event) === 'fireFailed') return 'fireFailed';
  if (!event.final || event.previousState === event.state) return null;
  if (rule.on.includes('lostPulses') && event.actorKind === 'acquisition' && lostCount(summary) > 0) return 'lostPulses';
  if (finalStates.has(event.state) && rule.on.includes(event.state as NotificationTriggerName)) return event.state as NotificationTriggerName;
  return null;
};

const durationText = (fromIso: unknown, toIso: unknown): string | null => {
  if (typeof fromIso !== 'string' || typeof toIso !== 'string') return null;
  const ms = Date.parse(toIso) - Date.parse(fromIso);
  if (!Number.isFinite(ms) || ms < 0) return null;
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : s < 7_200 ? `${Math.round(s / 60)} min` : `${(s / 3_600).toFixed(1)} h`;
};

/** The key figures of a job's summary: file, rows or samples, duration, error. */
const fieldsOf = (kind: string, summary: Record<string, unknown>): { name: string; value: string }[] => {
  const fields: { name: string; value: string }[] = [];
  const add = (name: string, value: unknown): void => {
    if (value === null || value === undefined || value === '') return;
    fields.push({ name, value: typeof value === 'string' ? value : JSON.stringify(value) });
  };
  const progress = record(summary.progress);
  add('file', summary.path ?? summary.outputFile);
  if (kind === 'acquisition') {
    add('pulses written', summary.pulsesWritten);
    const lost = lostCount(summary);
    if (lost > 0) {
      const ranges = record(summary.lostPulses).ranges;
      add('pulses lost', `${lost}${Array.isArray(ranges) ? ` in ${ranges.length} stretch${ranges.length === 1 ? '' : 'es'}` : ''}`);
    }
  }
  if (kind === 'grab') add('samples', progress.samples);
  if (kind === 'report') {
    add('jobs', progress.jobs);
    add('site', summary.siteUrl ?? summary.site);
  }
  add('duration', durationText(summary.startedAt ?? summary.requestedAt, summary.finishedAt));
  add('error', summary.error);
  return fields;
};

const titles: Record<NotificationTriggerName, string> = {
  completed: 'completed',
  failed: 'FAILED',
  timed_out: 'TIMED OUT',
  cancelled: 'cancelled',
  lostPulses: 'completed with LOST PULSES',
  fireFailed: 'could not fire',
  digest: 'digest',
};

/** What a notification about `event` says. `linkBase` is the status page's address, when there is one. */
export const composeMessage = (
  event: RecordedEvent,
  reason: NotificationTriggerName,
  linkBase: string | null,
): { trigger: NotificationTrigger; message: NotificationMessage } => {
  const summary = record(event.summary);
  const name = typeof summary.name === 'string' ? ` "${summary.name}"` : '';
  return {
    trigger: { kind: event.actorKind, id: event.actorId, state: event.state, position: event.position, time: event.time },
    message: {
      title: `daqflow: ${event.actorKind}${name} ${event.actorId} ${titles[reason]}`,
      fields: fieldsOf(event.actorKind, summary),
      link: linkBase ? `${linkBase.replace(/\/$/, '')}/jobs/${encodeURIComponent(event.actorId)}` : null,
      event: { ...event } as unknown as Record<string, unknown>,
    },
  };
};

/** The request id of the notification a rule makes of an event: the same event never makes two. */
export const notificationRequestId = (rule: NotificationRule, trigger: { kind: string; id: string; position: number }): string =>
  `notify-${rule.name}-${trigger.kind}-${trigger.id}-${trigger.position}`;
