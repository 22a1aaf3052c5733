import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { notificationActor } from '../../../actors/notifications/index.js';
import { notificationRuleSchema } from '../../../actors/notifications/notificationRules.js';
import { defineActor } from '../../../actors/runtime/actorDefinition.js';
import { ActorRuntime } from '../../../actors/runtime/actorRuntime.js';
import { EventSchemas } from '../../../events/eventSchemas.js';
import type { EventStore } from '../../../events/eventStore.js';
import { startWebhookRecorder, type WebhookRecorder } from '../../../test/fakes/webhookRecorder.js';
import { useTestDatabase } from '../../../test/harness/testDatabase.js';
import { testStream } from '../../../test/harness/testNames.js';
import { newId } from '../../ids.js';
import { connectNats, createJetStreamEventStore, ensureEventStream } from '../../jetstream/index.js';
import { channelConfigSchema } from './channelConfig.js';
import { createNotificationEffects } from './notificationEffects.js';
import { dueDigestDay, startNotifier } from './startNotifier.js';

/*
 * A daily digest fires once per day: at its time of day, at the first start after it when daqflow
 * was down then, and not again after a restart the same day. Real JetStream and PostgreSQL; the
 * clock is the test's, so that a day passes in a second.
 */

const names = testStream();
const t = useTestDatabase();
let nc: NatsConnection;
let store: EventStore;
let hooks: WebhookRecorder;

beforeAll(async () => {
  nc = await connectNats(inject('natsUrl'), 'digest-int');
  await ensureEventStream(await jetstreamManager(nc), { stream: names.stream, subjectPrefix: names.subjectPrefix });
  store = createJetStreamEventStore({ nc, ...names });
  hooks = await startWebhookRecorder();
});

afterAll(async () => {
  await hooks?.close();
  await nc?.close();
});

const settings = () => ({
  channels: { chat: channelConfigSchema.parse({ type: 'mattermost', url: `${hooks.url}/digest` }) },
  rules: [notificationRuleSchema.parse({ name: 'morning', channel: 'chat', on: ['digest'], at: '07:30' })],
  linkBase: null,
});

/** One daqflow's worth: a runtime hosting notifications, and its notifier with the given clock. */
const startProcess = async (now: () => Date) => {
  const runtime = new ActorRuntime({
    store,
    schemas: new EventSchemas(),
    definitions: [defineActor(notificationActor)],
    effects: { notification: createNotificationEffects({ channels: () => settings().channels }) },
    newId,
  });
  await runtime.start();
  let checks = 0;
  const notifier = startNotifier({
    store,
    runtime,
    db: t.db,
    settings: settings(),
    timeZone: 'Europe/Zurich',
    logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
    digestCheckMs: 20,
    now: () => {
      checks++;
      return now();
    },
  });
  return {
    checks: () => checks,
    stop: async () => {
      await notifier.stop();
      await runtime.stop();
    },
  };
};

const until = async (what: string, check: () => boolean, ms = 15_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('daily digest', () => {
  it('is due from its time of day in its zone', () => {
    // 07:30 in Zurich is 06:30 UTC in winter.
    expect(dueDigestDay('07:30', new Date('2026-12-06T06:29:00Z'), 'Europe/Zurich')).toBeNull();
    expect(dueDigestDay('07:30', new Date('2026-12-06T06:30:00Z'), 'Europe/Zurich')).toBe('2026-12-06');
    expect(dueDigestDay('07:30', new Date('2026-12-06T23:30:00Z'), 'Europe/Zurich')).toBeNull();
  });

  it('fires once per day, across a restart over its time', async () => {
    let clock = new Date('2026-12-06T06:00:00Z');
    const first = await startProcess(() => clock);
    await until('a few checks before the time of day', () => first.checks() >= 5);
    expect(hooks.posts('/digest')).toHaveLength(0);
    await first.stop();

    // Down over 07:30; the next start sends the day's digest.
    clock = new Date('2026-12-06T09:00:00Z');
    const second = await startProcess(() => clock);
    await until('the digest', () => hooks.posts('/digest').length === 1);
    expect(String((hooks.posts('/digest')[0]?.body as { text: string }).text)).toContain('digest for 2026-12-06');
    await second.stop();

    // Restarted the same day: checked again and again, sent no second time.
    const third = await startProcess(() => clock);
    await until('checks after the restart', () => third.checks() >= 10);
    expect(hooks.posts('/digest')).toHaveLength(1);

    // The next day: the next digest.
    clock = new Date('2026-12-07T07:00:00Z');
    await until('the next day\'s digest', () => hooks.posts('/digest').length === 2);
    expect(String((hooks.posts('/digest')[1]?.body as { text: string }).text)).toContain('digest for 2026-12-07');
    await third.stop();
  }, 60_000);
});
