import { TZDate } from '@date-fns/tz';
import type { Kysely } from 'kysely';
import { composeMessage, matchRule, notificationRequestId, type NotificationRule } from '../../../actors/notifications/notificationRules.js';
import type { ActorRuntime } from '../../../actors/runtime/actorRuntime.js';
import type { Logger } from '../../../actors/runtime/logger.js';
import { isDaqflowError } from '../../../events/errors.js';
import type { EventStore, EventSubscription } from '../../../events/index.js';
import { setCheckpoint } from '../../../projections/checkpoints.js';
import type { Database } from '../../../projections/database.js';
import type { NotificationSettings } from './notificationSettings.js';

/** Checkpoint and durable consumer name of the notifier. */
export const NOTIFIER_NAME = 'daqflow-notifier';

export interface Notifier {
  stop(): Promise<void>;
}

export interface StartNotifierOptions {
  readonly store: EventStore;
  readonly runtime: Pick<ActorRuntime, 'create'>;
  readonly db: Kysely<Database>;
  readonly settings: NotificationSettings;
  readonly timeZone: string;
  readonly logger: Logger;
  /** How often digest rules look whether their time of day has come (default 30 s). */
  readonly digestCheckMs?: number;
  readonly now?: () => Date;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });

/** The day (YYYY-MM-DD in `timeZone`) whose digest is due at `now`, or null before its time of day. */
export const dueDigestDay = (at: string, now: Date, timeZone: string): string | null => {
  const local = new TZDate(now.getTime(), timeZone);
  const [hours, minutes] = at.split(':').map(Number) as [number, number];
  if (local.getHours() * 60 + local.getMinutes() < hours * 60 + minutes) return null;
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${local.getFullYear()}-${pad(local.getMonth() + 1)}-${pad(local.getDate())}`;
};

/**
 * Turns job events into notifications: reads the stream from its own checkpoint (a new
 * installation starts at the stream's end, so history is not announced) and, for each rule an
 * event matches, creates a notification actor whose request id is made of the rule and the
 * event. Creating it again after a crash, or from a second process, answers the first one: an
 * event never makes two notifications. Digest rules make one notification per day, at their time
 * of day or at the first start after it.
 */
export const startNotifier = (options: StartNotifierOptions): Notifier => {
  const { store, runtime, db, settings, logger } = options;
  const now = options.now ?? (() => new Date());
  const eventRules = settings.rules.filter((r) => r.on.some((t) => t !== 'digest'));
  const digestRules = settings.rules.filter((r) => r.on.includes('digest'));
  const abort = new AbortController();
  let subscription: EventSubscription | undefined;

  const request = async (rule: NotificationRule, payload: Record<string, unknown>, requestId: string): Promise<void> => {
    try {
      await runtime.create(
        'notification',
        'request',
        { rule: rule.name, channel: rule.channel, maxAttempts: rule.maxAttempts, initialDelayMs: rule.initialDelayMs, maxDelayMs: rule.maxDelayMs, ...payload },
        { requestId },
      );
    } catch (err) {
      // A notification the schema refuses would be refused on every retry: say so and go on.
      if (!(isDaqflowError(err) && err.code === 'VALIDATION_FAILED')) throw err;
      logger.error({ err, rule: rule.name, requestId }, 'notification refused; skipped');
    }
  };

  const startPosition = async (): Promise<number> => {
    const row = await db.selectFrom('projection_checkpoint').select('position').where('name', '=', NOTIFIER_NAME).executeTakeFirst();
    if (row) return row.position;
    const end = await store.lastPosition();
    await setCheckpoint(db, NOTIFIER_NAME, end);
    logger.info({ position: end }, 'notifier starts at the end of the stream');
    return end;
  };

  const followStream = async (): Promise<void> => {
    let failures = 0;
    while (!abort.signal.aborted) {
      try {
        const from = await startPosition();
        subscription = store.subscribe(from + 1, { durable: NOTIFIER_NAME, batchSize: 200 });
        for await (const batch of subscription) {
          for (const event of batch) {
            for (const rule of eventRules) {
              const reason = matchRule(rule, event);
              if (reason === null) continue;
              const { trigger, message } = composeMessage(event, reason, settings.linkBase);
              await request(rule, { trigger, message }, notificationRequestId(rule, trigger));
            }
          }
          const last = batch[batch.length - 1];
          if (last) {
            await setCheckpoint(db, NOTIFIER_NAME, last.position);
            subscription.ack(last.position);
          }
          if (failures > 0) logger.info({ attempts: failures }, 'notifier resumed');
          failures = 0;
          if (abort.signal.aborted) break;
        }
      } catch (err) {
        if (abort.signal.aborted) break;
        failures++;
        // A server away fails every attempt alike: said once, and again when it resumes.
        if (failures === 1) logger.error({ err }, 'notifier failed; it resumes from its checkpoint');
      } finally {
        await subscription?.close().catch(() => undefined);
        subscription = undefined;
      }
      if (!abort.signal.aborted) await sleep(Math.min(5_000, 200 * 2 ** Math.min(failures, 5)), abort.signal);
    }
  };

  const digestSummary = async (since: Date): Promise<{ name: string; value: string }[]> => {
    const rows = await db
      .selectFrom('actor_status')
      .select(['kind', 'state'])
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('final', '=', true)
      .where('kind', '!=', 'notification')
      .where('updated_at', '>=', since)
      .groupBy(['kind', 'state'])
      .orderBy('kind')
      .orderBy('state')
      .execute();
    return rows.length ? rows.map((r) => ({ name: `${r.kind} ${r.state}`, value: String(r.count) })) : [{ name: 'jobs ended', value: '0' }];
  };

  const checkDigests = async (): Promise<void> => {
    for (const rule of digestRules) {
      const day = dueDigestDay(rule.at as string, now(), options.timeZone);
      if (day === null) continue;
      const at = now();
      const fields = await digestSummary(new Date(at.getTime() - 86_400_000));
      await request(
        rule,
        {
          trigger: { kind: 'digest', id: day, state: 'due', position: 0, time: at.toISOString() },
          message: { title: `daqflow: digest for ${day} (the last 24 hours)`, fields, link: settings.linkBase, event: null },
        },
        `digest-${rule.name}-${day}`,
      );
    }
  };

  const followDigests = async (): Promise<void> => {
    while (!abort.signal.aborted) {
      await checkDigests().catch((err: unknown) => logger.warn({ err }, 'digest not requested yet; trying again'));
      await sleep(options.digestCheckMs ?? 30_000, abort.signal);
    }
  };

  const running = Promise.all([eventRules.length ? followStream() : undefined, digestRules.length ? followDigests() : undefined]);
  if (settings.rules.length) logger.info({ rules: settings.rules.map((r) => r.name), channels: Object.keys(settings.channels) }, 'notifications on');
  return {
    async stop() {
      abort.abort();
      await subscription?.close().catch(() => undefined);
      await running;
    },
  };
};
