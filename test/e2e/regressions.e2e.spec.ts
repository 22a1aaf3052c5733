import { rmSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { killAllDaqflowProcesses, runCli, showResult, startDaqflowProcess } from '../harness/daqflowProcess.js';
import { createTestDatabase, type TestDatabase } from '../harness/testDatabase.js';
import { uniqueToken } from '../harness/testNames.js';
import { apiRequest, tempHome } from './e2eHelpers.js';

/*
 * Bugs the end-to-end specs found (fixed in dbd8b11), kept as regression tests: each states the
 * contract it holds the product to.
 */

const natsUrl = inject('natsUrl');
const databases: TestDatabase[] = [];
let home: string;
let nc: NatsConnection;

/** The environment of a daqflow with a database, stream and subject prefix of its own. */
const envFor = async (token: string): Promise<Record<string, string>> => {
  const database = await createTestDatabase();
  databases.push(database);
  return {
    DAQFLOW_NATS_URL: natsUrl,
    DAQFLOW_DATABASE_URL: database.url,
    DAQFLOW_HOME: home,
    DAQFLOW_STREAM: `T_${token}`,
    DAQFLOW_SUBJECT_PREFIX: `t_${token}`,
    DAQFLOW_LOG_LEVEL: 'warn',
  };
};

beforeAll(async () => {
  home = tempHome('bugs');
  nc = await connect({ servers: natsUrl, name: 'e2e-bugs-client' });
});

afterEach(killAllDaqflowProcesses);

afterAll(async () => {
  await killAllDaqflowProcesses();
  await nc?.close();
  for (const database of databases) await database.drop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('regressions found by the e2e specs', () => {
  // README "Idempotent requests": a retry returns the first answer, even from another process.
  // brief §2: "a client may send a request id; a retry returns the first answer".
  it('a retried start returns the first answer even after the actor moved on (and after a restart)', async () => {
    const token = uniqueToken();
    const env = await envFor(token);
    const up = await startDaqflowProcess({ env });
    const start = { steps: 2, intervalMs: 3_600_000, label: 'retry me', requestId: `start-${token}` };
    const first = await apiRequest(nc, `t_${token}.demo.start`, start, 5_000);
    expect(first.kind).toBe('ok');
    if (first.kind !== 'ok') return;
    const note = await apiRequest(nc, `t_${token}.demo.note`, { id: first.body.id, text: 'moves it on' }, 5_000);
    expect(note.kind).toBe('ok');

    const retried = await apiRequest(nc, `t_${token}.demo.start`, start, 5_000);
    expect(retried).toMatchObject({ kind: 'ok', duplicate: true });
    // The bug: the retry was answered with the actor's current view (version 2, notes 1).
    expect(retried.kind === 'ok' && retried.body, 'retry in the same process').toEqual(first.body);

    up.kill('SIGKILL');
    await up.exited;
    await startDaqflowProcess({ env });
    const afterRestart = await apiRequest(nc, `t_${token}.demo.start`, start, 5_000);
    expect(afterRestart.kind === 'ok' && afterRestart.body, 'retry after a restart').toEqual(first.body);
  });

  // `daqflow demo` decided whether a daqflow was running with `$SRV.PING.daqflow-demo`, which
  // every daqflow on the NATS server answers whatever its DAQFLOW_SUBJECT_PREFIX.
  it('demo runs daqflow in-process when the only daqflow running on the NATS server serves another subject prefix', async () => {
    await startDaqflowProcess({ env: await envFor(uniqueToken()) });
    const args = ['demo', '--steps', '1', '--interval-ms', '10'];
    // The bug: exit 1 "no answer on t_….demo.start: is `daqflow up` running? (no responders …)".
    const result = await runCli(args, await envFor(uniqueToken()));
    expect(result.code, showResult(args, result)).toBe(0);
    expect(result.stdout).toMatch(/ended completed/);
  });
});
