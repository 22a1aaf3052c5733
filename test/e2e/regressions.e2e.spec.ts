import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { killAllDaqflowProcesses, runCli, showResult, startDaqflowProcess } from '../harness/daqflowProcess.js';
import { apiRequest, useE2eEnvironments } from './e2eHelpers.js';

/*
 * Bugs the end-to-end specs found (fixed in dbd8b11), kept as regression tests: each states the
 * contract it holds the product to.
 */

const natsUrl = inject('natsUrl');
// One home for every daqflow of this file, each with a database, stream and subject prefix of its own.
const e2e = useE2eEnvironments('bugs');
let nc: NatsConnection;

beforeAll(async () => {
  nc = await connect({ servers: natsUrl, name: 'e2e-bugs-client' });
});

afterEach(killAllDaqflowProcesses);

afterAll(async () => {
  await nc?.close();
});

describe('regressions found by the e2e specs', () => {
  // README "Idempotent requests": a retry returns the first answer, even from another process.
  // docs/api.md, "Idempotency": a retry with the same request id returns the first answer.
  it('a retried start returns the first answer even after the actor moved on (and after a restart)', async () => {
    const { token, prefix, env } = await e2e.create();
    const up = await startDaqflowProcess({ env });
    const start = { steps: 2, intervalMs: 3_600_000, label: 'retry me', requestId: `start-${token}` };
    const first = await apiRequest(nc, `${prefix}.demo.start`, start, 5_000);
    expect(first.kind).toBe('ok');
    if (first.kind !== 'ok') return;
    const note = await apiRequest(nc, `${prefix}.demo.note`, { id: first.body.id, text: 'moves it on' }, 5_000);
    expect(note.kind).toBe('ok');

    const retried = await apiRequest(nc, `${prefix}.demo.start`, start, 5_000);
    expect(retried).toMatchObject({ kind: 'ok', duplicate: true });
    // The bug: the retry was answered with the actor's current view (version 2, notes 1).
    expect(retried.kind === 'ok' && retried.body, 'retry in the same process').toEqual(first.body);

    up.kill('SIGKILL');
    await up.exited;
    await startDaqflowProcess({ env });
    const afterRestart = await apiRequest(nc, `${prefix}.demo.start`, start, 5_000);
    expect(afterRestart.kind === 'ok' && afterRestart.body, 'retry after a restart').toEqual(first.body);
  });

  // `daqflow demo` decided whether a daqflow was running with `$SRV.PING.daqflow-demo`, which
  // every daqflow on the NATS server answers whatever its DAQFLOW_SUBJECT_PREFIX.
  it('demo runs daqflow in-process when the only daqflow running on the NATS server serves another subject prefix', async () => {
    await startDaqflowProcess({ env: (await e2e.create()).env });
    const args = ['demo', '--steps', '1', '--interval-ms', '10'];
    // The bug: exit 1 "no answer on t_….demo.start: is `daqflow up` running? (no responders …)".
    const result = await runCli(args, (await e2e.create()).env);
    expect(result.code, showResult(args, result)).toBe(0);
    expect(result.stdout).toMatch(/ended completed/);
  });
});
