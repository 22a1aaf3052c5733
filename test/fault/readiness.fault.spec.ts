import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { killAllDaqflowProcesses, startDaqflowProcess, type DaqflowProcess } from '../harness/daqflowProcess.js';
import { getJson, httpUrlOf } from '../harness/httpEndpoints.js';
import { startOwnPostgres, type OwnPostgres } from '../harness/ownPostgres.js';
import { uniqueToken } from '../harness/testNames.js';
import { tempHome, waitFor } from '../e2e/e2eHelpers.js';

let postgres: OwnPostgres;
let daqflow: DaqflowProcess;
let url: string;

beforeAll(async () => {
  postgres = await startOwnPostgres('readiness');
  const token = uniqueToken();
  daqflow = await startDaqflowProcess({
    env: {
      DAQFLOW_NATS_URL: inject('natsUrl'),
      DAQFLOW_DATABASE_URL: postgres.url,
      DAQFLOW_HOME: tempHome('readiness'),
      DAQFLOW_STREAM: `T_${token}`,
      DAQFLOW_SUBJECT_PREFIX: `t_${token}`,
      DAQFLOW_LOG_LEVEL: 'warn',
      DAQFLOW_HTTP: '127.0.0.1:0',
    },
  });
  url = httpUrlOf(daqflow);
});

afterAll(async () => {
  await killAllDaqflowProcesses();
  await postgres?.destroy();
});

describe('/readyz while PostgreSQL goes away and comes back', () => {
  it('is ready, turns unready naming PostgreSQL while it is stopped, and ready again once it is back; /healthz stays up', async () => {
    const ready = await getJson(`${url}/readyz`);
    expect(ready.status, JSON.stringify(ready.body)).toBe(200);
    expect(ready.body).toMatchObject({ ready: true, postgres: { available: true }, nats: { available: true } });

    await postgres.stop();
    const down = await waitFor(
      '/readyz to answer 503',
      async () => {
        const answer = await getJson(`${url}/readyz`);
        return answer.status === 503 ? answer : undefined;
      },
      30_000,
      200,
    );
    expect(down.body).toMatchObject({ ready: false, postgres: { available: false }, nats: { available: true } });
    expect((await getJson(`${url}/healthz`)).status).toBe(200);

    await postgres.start();
    const back = await waitFor(
      '/readyz to answer 200 again',
      async () => {
        const answer = await getJson(`${url}/readyz`);
        return answer.status === 200 ? answer : undefined;
      },
      60_000,
      200,
    );
    expect(back.body).toMatchObject({ ready: true, postgres: { available: true } });
    expect(daqflow.child.exitCode).toBeNull();
  }, 150_000);
});
