import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startDaqflow, type Daqflow } from '../../adapters/app/startDaqflow.js';
import { loadConfig } from '../../adapters/config/config.js';
import { createLogger } from '../../adapters/logging/logger.js';
import { jobModules } from '../../adapters/jobs/registry.js';
import { apiRequest, waitFor } from '../e2e/e2eHelpers.js';
import { createTestDatabase, type TestDatabase } from '../harness/testDatabase.js';
import { uniqueToken } from '../harness/testNames.js';
import { pingsModule } from './jobs/pings/index.js';

// A kind added as docs/contributing.md says: test/exampleKind/actors/pings/ (pure),
// test/exampleKind/jobs/pings/ (effects and module), and this one registry line.
const modules = [...jobModules, pingsModule];

const token = uniqueToken();
const prefix = `t_${token}`;
let home: string;
let database: TestDatabase;
let app: Daqflow | undefined;
let nc: NatsConnection;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'daqflow-example-kind-'));
  database = await createTestDatabase();
  const config = loadConfig({
    env: {},
    flags: {
      home,
      dataRoot: join(home, 'data'),
      stream: `T_${token}`,
      subjectPrefix: prefix,
      timeZone: 'UTC',
      // The projector thread reads the registered kinds only; inline, it projects this one too.
      projector: 'inline',
      // Nothing listens there: no acquisition runs here, and no simulator burns CPU.
      bsreadStream: 'tcp://127.0.0.1:9',
    },
  });
  const logger = createLogger(process.env.DAQFLOW_TEST_LOG_LEVEL ?? 'silent', { pretty: false });
  app = await startDaqflow(config, { natsUrl: inject('natsUrl'), databaseUrl: database.url }, logger, modules);
  nc = await connect({ servers: inject('natsUrl') });
}, 120_000);

afterAll(async () => {
  await nc?.close();
  await app?.stop();
  await database?.drop();
  rmSync(home, { recursive: true, force: true });
});

describe('a job kind added with two folders and one registry line', () => {
  it('is served on its own subjects and service, runs its effect, and reaches the status rows', async () => {
    const started = await apiRequest(nc, `${prefix}.pings.start`, { text: 'hello', requestId: 'first' }, 10_000);
    expect(started.kind).toBe('ok');
    const id = started.kind === 'ok' ? String(started.body.id) : '';
    const answered = await waitFor(
      'the ping to be answered',
      async () => {
        const got = await apiRequest(nc, `${prefix}.pings.get`, { id }, 5_000);
        return got.kind === 'ok' && got.body.state === 'answered' ? got.body : undefined;
      },
      20_000,
    );
    expect(answered).toMatchObject({ text: 'hello', answer: 'HELLO', final: true });

    const info = await apiRequest(nc, '$SRV.INFO.daqflow-pings', {}, 5_000);
    // The kind, and which process answers (its node and roles: several processes may serve a kind).
    const metadata = info.kind === 'ok' ? (info.body.metadata as Record<string, string>) : undefined;
    expect(metadata).toMatchObject({ kind: 'ping' });
    expect(metadata?.['roles']?.split(',')).toContain('pings');

    const row = await waitFor(
      'the status row of the ping',
      async () => {
        const list = await apiRequest(nc, `${prefix}.query.list`, { kind: 'ping' }, 5_000);
        const items = list.kind === 'ok' ? (list.body.items as Array<Record<string, unknown>>) : [];
        return items.find((r) => r.id === id && r.state === 'answered');
      },
      20_000,
    );
    expect(row).toMatchObject({ kind: 'ping', final: true });
  });

  it('stays out of the registry daqflow itself hosts', () => {
    expect(jobModules.map((m) => m.storedKind)).not.toContain('ping');
  });
});
