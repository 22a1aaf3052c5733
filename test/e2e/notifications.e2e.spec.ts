import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createSimulatorSource } from '../../adapters/dataLogger/simulator.js';
import { WRITER_STALL_ENV } from '../../adapters/hdf5/writerStallTestHook.js';
import { startFakeArchiverAppliance, type FakeArchiverServer } from '../fakes/archiverApplianceServer.js';
import { startSmtpRecorder, type SmtpRecorder } from '../fakes/smtpRecorder.js';
import { startWebhookRecorder, type WebhookRecorder } from '../fakes/webhookRecorder.js';
import { killAllDaqflowProcesses, runCli, showResult, startDaqflowProcess, type DaqflowProcess } from '../harness/daqflowProcess.js';
import { apiRequest, readWholeStream, useE2eEnvironments, waitFor, type DaqflowEnvironment } from './e2eHelpers.js';

/*
 * Notifications through a real `daqflow up`: a grab that fails, a report that completes and an
 * acquisition that loses pulses (its writer held back on purpose), with rules sending to a chat
 * webhook that answers 500 twice before it takes a message, a generic JSON webhook and an SMTP
 * server on loopback. Each event makes exactly one message per rule that matches it, and a kill -9
 * of daqflow with a notification waiting for its retry loses none.
 */

const RATE = 100;
const START = 9_000_000;
const PORT = 24_000 + Math.floor(Math.random() * 2_000);

const e2e = useE2eEnvironments('notify');
let nc: NatsConnection;
let environment: DaqflowEnvironment;
let env: Record<string, string>;
let hooks: WebhookRecorder;
let smtp: SmtpRecorder;
let archiver: FakeArchiverServer;
let up: DaqflowProcess;
let configFile: string;

beforeAll(async () => {
  hooks = await startWebhookRecorder();
  smtp = await startSmtpRecorder();
  archiver = await startFakeArchiverAppliance({ source: createSimulatorSource({ seed: 'notify', rateHz: 1 }) });
  environment = await e2e.create();
  const dataRoot = join(e2e.home, `data-${environment.token}`);
  mkdirSync(dataRoot, { recursive: true });
  configFile = join(e2e.home, 'daqflow.yaml');
  writeFileSync(
    configFile,
    [
      'notify:',
      '  channels:',
      `    chat: { type: mattermost, url: "${hooks.url}/chat" }`,
      `    tools: { type: webhook, url: "${hooks.url}/tools", headers: { X-Team: beamline } }`,
      `    mail: { type: email, host: 127.0.0.1, port: ${smtp.port}, starttls: false, from: daqflow@beamline.test, to: [ops@beamline.test] }`,
      '  rules:',
      '    - { name: trouble, channel: chat, on: [failed, timed_out, lostPulses], kinds: [grab, report, acquisition], initialDelayMs: 300, maxDelayMs: 2000 }',
      '    - { name: demo-chat, channel: chat, on: [failed], kinds: [demo], initialDelayMs: 5000 }',
      '    - { name: ends, channel: tools, on: [completed, failed, lostPulses], kinds: [grab, report, acquisition] }',
      '    - { name: grab-mail, channel: mail, on: [failed], kinds: [grab] }',
      '',
    ].join('\n'),
  );
  env = {
    ...environment.env,
    DAQFLOW_DATA_ROOT: dataRoot,
    DAQFLOW_ARCHIVER_URL: archiver.url,
    DAQFLOW_BSREAD_STREAM: `tcp://127.0.0.1:${PORT}`,
    DAQFLOW_BUFFER_LENGTH: '100',
    [WRITER_STALL_ENV]: '3000',
    DAQFLOW_LOG_LEVEL: 'info',
  };
  nc = await connect({ servers: inject('natsUrl'), name: 'e2e-notify-client' });
  await startDaqflowProcess({
    args: ['simulate', 'bsread', '--address', `tcp://127.0.0.1:${PORT}`, '--rate', String(RATE), '--scalars', '2', '--start-pulse', String(START)],
    ready: /bsread simulator: push on/,
  });
  up = await startDaqflowProcess({ env, args: ['up', '--config', configFile] });
}, 120_000);

afterAll(async () => {
  await nc?.close();
  await killAllDaqflowProcesses();
  await hooks?.close();
  await smtp?.close();
  await archiver?.close();
});

const subject = (group: string, verb: string): string => `${environment.prefix}.${group}.${verb}`;

const start = async (group: string, body: Record<string, unknown>): Promise<string> => {
  const outcome = await apiRequest(nc, subject(group, 'start'), body, 20_000);
  if (outcome.kind !== 'ok') throw new Error(`${group}.start refused: ${JSON.stringify(outcome)}`);
  return String(outcome.body['id']);
};

const view = async (group: string, id: string): Promise<Record<string, unknown> | undefined> => {
  const outcome = await apiRequest(nc, subject(group, 'get'), { id }, 3_000);
  return outcome.kind === 'ok' ? outcome.body : undefined;
};

const untilFinal = (group: string, id: string, timeoutMs = 60_000): Promise<Record<string, unknown>> =>
  waitFor(`${group} ${id} to end`, async () => {
    const v = await view(group, id);
    return v?.['final'] ? v : undefined;
  }, timeoutMs);

/** The notification actors of the stream, newest event of each. */
const notifications = async (): Promise<Array<{ id: string; state: string; summary: Record<string, unknown> }>> => {
  const events = await readWholeStream(inject('natsUrl'), environment.stream, environment.prefix);
  const newest = new Map<string, { id: string; state: string; summary: Record<string, unknown> }>();
  for (const e of events) if (e.actorKind === 'notification') newest.set(e.actorId, { id: e.actorId, state: e.state, summary: e.summary });
  return [...newest.values()];
};

describe('notifications', () => {
  it('a failed grab, a completed report and an acquisition with lost pulses: one message per matching rule, after retries', async () => {
    hooks.failNext('/chat', 2, 500);

    // A grab whose chunks the appliance refuses for good (a 400 is no retry's business): it fails.
    // Only the window's requests: the parameter check at start must still find SIM:SINE.
    archiver.failNext(100, 400, (r) => r.from !== null && r.from.startsWith('2026-11-20T00:00') && r.to !== r.from);
    const grab = await start('grabs', { parameters: ['SIM:SINE'], startAt: '2026-11-20T00:00:00Z', stopAt: '2026-11-20T00:10:00Z', outDir: 'grabs' });
    const grabDone = await untilFinal('grabs', grab);
    expect(grabDone['state']).toBe('failed');
    archiver.clearFaults();

    // A report whose one job is a shell command: it completes.
    const report = await start('reports', {
      mode: 'local',
      runner: 'local',
      config: {
        global: { title: 'Notified', outFolder: 'reports', jobUpdateIntervalSeconds: 1, jobTimeoutSeconds: 60, timeZone: 'UTC', range: { from: '2026-11-01', to: '2026-11-02' } },
        instruments: { NOTE: { detectors: { quick: { parameters: ['NOTE:X'], command: ['sh', '-c', 'mkdir -p "$DAQFLOW_REPORT_OUT/NOTE" && echo done > "$DAQFLOW_REPORT_OUT/NOTE/quick.txt"'] } } } },
      },
    });
    expect((await untilFinal('reports', report))['state']).toBe('completed');

    // An acquisition whose writer is held back until the buffer overtakes it: completed with lost pulses.
    const acquisition = await start('acquisitions', { outputFile: 'beam/notified.h5' });
    await waitFor('the acquisition to lose pulses and write on', async () => {
      const v = await view('acquisitions', acquisition);
      const lost = v?.['lostPulses'] as { to?: number } | undefined;
      return lost?.to !== undefined && Number(v?.['lastPulseId']) >= lost.to + 20 ? true : undefined;
    }, 60_000);
    await apiRequest(nc, subject('acquisitions', 'stop'), { id: acquisition, now: true }, 10_000);
    const acquired = await untilFinal('acquisitions', acquisition);
    expect(acquired['state']).toBe('completed');

    // Every notification ends sent; the chat's two 500s were retried.
    const all = await waitFor('6 notifications, each sent', async () => {
      const n = await notifications();
      return n.length >= 6 && n.every((x) => x.state === 'sent') ? n : undefined;
    }, 60_000, 250);
    const about = (id: string, rule: string) => all.filter((n) => (n.summary['about'] as { id: string }).id === id && n.summary['rule'] === rule);
    for (const [id, rules] of [
      [grab, ['trouble', 'ends', 'grab-mail']],
      [report, ['ends']],
      [acquisition, ['trouble', 'ends']],
    ] as const) {
      for (const rule of ['trouble', 'ends', 'grab-mail']) expect(about(id, rule), `${id} ${rule}`).toHaveLength((rules as readonly string[]).includes(rule) ? 1 : 0);
    }
    expect(all).toHaveLength(6);

    // The chat: two failed posts then one taken for the first message, each message taken once.
    const chat = hooks.posts('/chat');
    const taken = chat.filter((p) => p.status === 200);
    expect(chat.filter((p) => p.status === 500)).toHaveLength(2);
    expect(taken).toHaveLength(2);
    expect(new Set(taken.map((p) => p.headers['idempotency-key'])).size).toBe(2);
    // A retry carries the key of the attempt it repeats.
    expect(chat[0]?.headers['idempotency-key']).toBe(chat[2]?.headers['idempotency-key']);
    const grabChat = taken.find((p) => String((p.body as { text: string }).text).includes(grab));
    expect((grabChat?.body as { text: string }).text).toMatch(/FAILED/);
    expect((grabChat?.body as { text: string }).text).toMatch(/error: /);
    const lostChat = taken.find((p) => String((p.body as { text: string }).text).includes(acquisition));
    expect((lostChat?.body as { text: string }).text).toMatch(/LOST PULSES[\s\S]*pulses lost: \d+/);

    // The generic webhook: the triggering event's envelope, with the team's header.
    const tools = hooks.posts('/tools');
    expect(tools).toHaveLength(3);
    for (const post of tools) expect(post.headers['x-team']).toBe('beamline');
    const reportPost = tools.find((p) => (p.body as { trigger: { id: string } }).trigger.id === report)?.body as { event: { state: string; actorKind: string } };
    expect(reportPost.event).toMatchObject({ state: 'completed', actorKind: 'report' });

    // The e-mail: one, for the grab, with the notification's id as its Message-ID.
    const mails = smtp.mails();
    expect(mails).toHaveLength(1);
    expect(mails[0]?.to).toEqual(['ops@beamline.test']);
    const mailNotification = about(grab, 'grab-mail')[0]!.id;
    expect(mails[0]?.raw).toContain(`Message-ID: <${mailNotification}@daqflow>`);
    expect(mails[0]?.raw).toMatch(/Subject: daqflow: grab \S+ FAILED/);

    // `daqflow status --kind notification` lists them.
    const listed = await runCli(['status', '--kind', 'notification', '--json', '--config', configFile], env);
    expect(listed.code, showResult(['status'], listed)).toBe(0);
    expect((JSON.parse(listed.stdout) as { items: unknown[] }).items).toHaveLength(6);
  }, 240_000);

  it('kill -9 while a notification waits for its retry: after the restart it is sent, once', async () => {
    const before = hooks.posts('/chat').length;
    hooks.failNext('/chat', 1, 503);
    const demoFailed = await start('demo', { steps: 1, intervalMs: 10, failAtStep: 1 });
    const waiting = await waitFor('a notification waiting for its retry', async () => {
      const n = (await notifications()).find((x) => (x.summary['about'] as { id: string }).id === demoFailed);
      return n?.state === 'waiting' ? n : undefined;
    }, 30_000, 100);
    up.kill('SIGKILL');
    await up.exited;
    up = await startDaqflowProcess({ env, args: ['up', '--config', configFile] });
    await waitFor('the notification to be sent after the restart', async () => {
      const n = (await notifications()).find((x) => x.id === waiting.id);
      return n?.state === 'sent' ? n : undefined;
    }, 30_000, 200);
    const posts = hooks.posts('/chat').slice(before).filter((p) => String((p.body as { text: string }).text).includes(demoFailed));
    expect(posts.map((p) => p.status)).toEqual([503, 200]);
    expect(new Set(posts.map((p) => p.headers['idempotency-key']))).toEqual(new Set([waiting.id]));
    // The restart made no second notification of the same event.
    expect((await notifications()).filter((x) => (x.summary['about'] as { id: string }).id === demoFailed)).toHaveLength(1);
  }, 120_000);

  it('kill -9 while a message is on its way: sent again after the restart with the same key, one notification', async () => {
    const before = hooks.posts('/chat').length;
    // The chat takes the post but answers only after daqflow is gone: the send is not on record.
    hooks.delayNext('/chat', 60_000);
    const demoFailed = await start('demo', { steps: 1, intervalMs: 10, failAtStep: 1 });
    await waitFor('the post to reach the chat', async () => (hooks.posts('/chat').slice(before).some((p) => String((p.body as { text: string }).text).includes(demoFailed)) ? true : undefined), 30_000, 50);
    const sending = (await notifications()).find((x) => (x.summary['about'] as { id: string }).id === demoFailed);
    expect(sending?.state).toBe('sending');
    up.kill('SIGKILL');
    await up.exited;
    up = await startDaqflowProcess({ env, args: ['up', '--config', configFile] });
    await waitFor('the notification to be sent after the restart', async () => {
      const n = (await notifications()).find((x) => x.id === sending!.id);
      return n?.state === 'sent' ? n : undefined;
    }, 30_000, 200);
    const posts = hooks.posts('/chat').slice(before).filter((p) => String((p.body as { text: string }).text).includes(demoFailed));
    // The repeat the docs allow: two posts, one key, one notification on record.
    expect(posts).toHaveLength(2);
    expect(new Set(posts.map((p) => p.headers['idempotency-key']))).toEqual(new Set([sending!.id]));
    expect((await notifications()).filter((x) => (x.summary['about'] as { id: string }).id === demoFailed)).toHaveLength(1);
  }, 120_000);
});
