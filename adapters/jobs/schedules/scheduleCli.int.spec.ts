import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { defineActor } from '../../../actors/runtime/actorDefinition.js';
import type { ActorRuntime } from '../../../actors/runtime/actorRuntime.js';
import { silentLogger } from '../../../actors/runtime/logger.js';
import { scheduleActor } from '../../../actors/schedules/index.js';
import type { RecordedEvent } from '../../../events/envelope.js';
import { InMemoryEventStore } from '../../../events/inMemoryEventStore.js';
import { createScheduleRuntime } from '../../../test/harness/scheduleRuntime.js';
import { uniqueToken } from '../../../test/harness/testNames.js';
import type { StatusQueries } from '../../natsApi/queryService.js';
import { startApi, type RunningApi } from '../../natsApi/startApi.js';
import { registerScheduleCommands } from './scheduleCli.js';

// The CLI against a real nats-server and the request API as `daqflow up` serves it; the read
// side is folded from the in-memory store, as the status projection would give it.
const store = new InMemoryEventStore();
const prefix = `t_${uniqueToken()}`;
const home = mkdtempSync(join(tmpdir(), 'daqflow-schedule-cli-'));
let runtime: ActorRuntime;
let api: RunningApi;
let nc: NatsConnection;

const queries: StatusQueries = {
  list: async ({ kind, limit }) => {
    const latest = new Map<string, RecordedEvent>();
    for await (const batch of store.readAll()) for (const e of batch) latest.set(`${e.actorKind}.${e.actorId}`, e);
    return [...latest.values()]
      .filter((e) => kind === undefined || e.actorKind === kind)
      .slice(0, limit)
      .map((e) => ({ kind: e.actorKind, id: e.actorId, state: e.state, final: e.final, summary: e.summary }));
  },
  history: async () => [],
  stats: async () => [],
  caughtUp: async (position) => ({ reached: true, position }),
};

beforeAll(async () => {
  runtime = createScheduleRuntime(store);
  await runtime.start();
  nc = await connect({ servers: inject('natsUrl') });
  api = await startApi(nc, {
    runtime,
    queries,
    logger: silentLogger,
    kinds: [{ kind: 'schedule', serviceName: 'daqflow-schedules', group: 'schedules', definition: defineActor(scheduleActor) }],
    subjectPrefix: prefix,
  });
});

afterAll(async () => {
  await api?.stop(100);
  await nc?.close();
  await runtime?.stop(100);
  rmSync(home, { recursive: true, force: true });
});

/** Runs `daqflow schedule …` against this spec's servers; returns what it printed. */
const cli = async (...args: string[]): Promise<string> => {
  const program = new Command('daqflow').exitOverride();
  registerScheduleCommands(program);
  const printed: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    printed.push(String(chunk));
    return true;
  });
  try {
    await program.parseAsync([
      'node',
      'daqflow',
      'schedule',
      ...args,
      '--nats-url',
      inject('natsUrl'),
      // Only NATS is used; a configured URL keeps the tool from starting an embedded PostgreSQL.
      '--database-url',
      'postgres://unused@127.0.0.1:1/unused',
      '--subject-prefix',
      prefix,
      '--home',
      home,
    ]);
  } finally {
    write.mockRestore();
  }
  return printed.join('');
};

const payload = JSON.stringify({ steps: 1, intervalMs: 1_000 });

describe('daqflow schedule', () => {
  it('adds a schedule and says when it fires next, in its zone', async () => {
    const out = await cli('add', 'nightly-demo', '--cron', '0 1 * * *', '--time-zone', 'Europe/Zurich', '--target', 'demo.start', '--payload', payload);
    expect(out).toMatch(/^schedule [0-9a-f-]{36} "nightly-demo": active, next fire \d{4}-\d{2}-\d{2} 01:00 Europe\/Zurich \(\d{4}-.*Z\)\n$/);
  });

  it('refuses a second live schedule of the same name', async () => {
    await expect(cli('add', 'nightly-demo', '--cron', '0 2 * * *', '--target', 'demo.start')).rejects.toMatchObject({
      code: 'WRONG_STATE',
      message: expect.stringMatching(/a schedule named "nightly-demo" exists already/),
    });
  });

  it('refuses a bad cron expression with the reason, as a 400', async () => {
    const refused = cli('add', 'bad', '--cron', '0 25 * * *', '--target', 'demo.start');
    await expect(refused).rejects.toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
    await expect(refused).rejects.toThrow(/cron: not a cron expression: Invalid value for hour: 25/);
  });

  it('refuses a target that is not kind.command and a payload that is not an object', async () => {
    await expect(cli('add', 'x', '--cron', '@daily', '--target', 'grab')).rejects.toThrow(/--target "grab": give <kind>.<command>/);
    await expect(cli('add', 'x', '--cron', '@daily', '--target', 'grab.start', '--payload', '[1]')).rejects.toThrow(/--payload must be a JSON object/);
  });

  it('lists, pauses, resumes and removes by name', async () => {
    expect(await cli('list')).toMatch(/ID\s+NAME\s+CRON\s+ZONE\s+NEXT FIRE\s+LAST FIRE\s+STATE\n\S+\s+nightly-demo\s+0 1 \* \* \*\s+Europe\/Zurich\s+\d{4}-\d{2}-\d{2} 01:00\s+-\s+active, 0 fired/);
    expect(await cli('pause', 'nightly-demo')).toMatch(/"nightly-demo": paused, no fire armed/);
    expect(await cli('resume', 'nightly-demo')).toMatch(/"nightly-demo": active, next fire/);
    expect(await cli('remove', 'nightly-demo', '--reason', 'spec done')).toMatch(/"nightly-demo": removed/);
    expect(await cli('list')).toBe('no schedules (add one: daqflow schedule add --help)\n');
    expect(await cli('list', '--all')).toMatch(/nightly-demo .* removed/);
  });

  it('answers an unknown schedule with 404', async () => {
    await expect(cli('pause', 'no-such-schedule')).rejects.toMatchObject({ code: 'UNKNOWN_ACTOR' });
  });
});
