import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { silentLogger } from '../../actors/runtime/logger.js';
import type { RecordedEvent } from '../../events/envelope.js';
import { grabStatisticsProjection } from '../../projections/grabStatistics.projection.js';
import { useTestDatabase } from '../../test/harness/testDatabase.js';
import { uniqueToken } from '../../test/harness/testNames.js';
import { createStatusQueries } from '../app/statusQueries.js';
import type { ApiRuntime } from './actorService.js';
import { startApi, type RunningApi } from './startApi.js';

// daqflow.query.stats end to end: a real nats-server, the real query service, and the real
// projection tables in PostgreSQL, filled by the statistics projection from fileWritten events.

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 22, 8);
const iso = (ms: number): string => new Date(ms).toISOString();

const series = (seed: number) => ({
  count: 100 + seed,
  nanCount: seed,
  min: -seed - 0.5,
  max: seed + 0.1 + 0.2,
  mean: seed / 3,
  std: seed === 0 ? null : Math.SQRT2 * seed,
  mode: seed,
});

const fileWritten = (runId: string, position: number, hour: number, parameters: string[]): RecordedEvent => ({
  id: `${runId}-fw`,
  type: 'fileWritten',
  schemaVersion: 1,
  actorKind: 'grab',
  actorId: runId,
  version: 5,
  time: iso(T0 + (hour + 1) * HOUR + 1_000),
  correlationId: `corr-${runId}`,
  causationId: null,
  commandId: null,
  previousState: 'assembling',
  state: 'completed',
  final: true,
  summary: {},
  data: {
    path: `/data/${runId}.h5`,
    bytes: 1_000,
    samples: 500,
    windowStart: iso(T0 + hour * HOUR),
    windowStop: iso(T0 + (hour + 1) * HOUR),
    statistics: parameters.map((parameter, i) => ({
      parameter,
      units: 'mm',
      ...series(hour * 10 + i),
      firstTime: (T0 + hour * HOUR) / 1_000 + 0.000123,
      lastTime: (T0 + (hour + 1) * HOUR) / 1_000 - 0.000456,
      interval: { ...series(i), nanCount: 0 },
    })),
  },
  position,
});

interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly details: { issues?: Array<{ path: unknown[] }> } };
}

// No actor kind is served here, so the runtime is never called.
const noRuntime: ApiRuntime = {
  create: () => Promise.reject(new Error('no runtime in this spec')),
  execute: () => Promise.reject(new Error('no runtime in this spec')),
  get: () => Promise.reject(new Error('no runtime in this spec')),
  findCreated: () => Promise.reject(new Error('no runtime in this spec')),
};

describe('NATS request API: query.stats', () => {
  const t = useTestDatabase();
  const prefix = `t_${uniqueToken()}`;
  let server: NatsConnection;
  let client: NatsConnection;
  let api: RunningApi;

  const call = async (body: unknown): Promise<{ status: number | undefined; body: Record<string, unknown> }> => {
    const payload = typeof body === 'string' ? body : JSON.stringify(body);
    const m = await client.request(`${prefix}.query.stats`, payload, { timeout: 5_000 });
    const code = m.headers?.get('Nats-Service-Error-Code');
    return { status: code ? Number(code) : undefined, body: m.json<Record<string, unknown>>() };
  };
  const keys = (body: Record<string, unknown>): string[] =>
    (body.rows as Array<{ run_id: string; parameter: string }>).map((r) => `${r.run_id}/${r.parameter}`);

  beforeAll(async () => {
    await t.db
      .transaction()
      .execute((trx) =>
        grabStatisticsProjection.apply(trx, [
          fileWritten('run-1', 21, 1, ['P1', 'P2']),
          fileWritten('run-0', 20, 0, ['P1']),
          fileWritten('run-2', 22, 2, ['P1']),
        ]),
      );
    const url = inject('natsUrl');
    server = await connect({ servers: url, name: 'queryStats-spec-server' });
    client = await connect({ servers: url, name: 'queryStats-spec-client' });
    api = await startApi(server, {
      runtime: noRuntime,
      queries: createStatusQueries(t.db),
      logger: silentLogger,
      kinds: [],
      subjectPrefix: prefix,
    });
  });

  afterAll(async () => {
    await api?.stop(1_000);
    await client?.close();
    await server?.close();
  });

  it('replies {rows} by window start, each row as the table holds it, times as ISO text', async () => {
    const r = await call({});
    expect(r.status).toBeUndefined();
    expect(keys(r.body)).toEqual(['run-0/P1', 'run-1/P1', 'run-1/P2', 'run-2/P1']);
    const row = (r.body.rows as Array<Record<string, unknown>>).find((x) => x.run_id === 'run-1' && x.parameter === 'P2');
    expect(row).toEqual({
      run_id: 'run-1',
      parameter: 'P2',
      units: 'mm',
      window_start: '2026-11-22T09:00:00.000Z',
      window_stop: '2026-11-22T10:00:00.000Z',
      output_file: '/data/run-1.h5',
      count: 111,
      nan_count: 11,
      min: -11.5,
      max: 11 + 0.1 + 0.2,
      mean: 11 / 3,
      std: Math.SQRT2 * 11,
      mode: 11,
      first_time: (T0 + HOUR) / 1_000 + 0.000123,
      last_time: (T0 + 2 * HOUR) / 1_000 - 0.000456,
      interval_count: 101,
      interval_nan_count: 0,
      interval_min: -1.5,
      interval_max: 1 + 0.1 + 0.2,
      interval_mean: 1 / 3,
      interval_std: Math.SQRT2,
      interval_mode: 1,
      recorded_at: '2026-11-22T10:00:01.000Z',
      position: 21,
    });
  });

  it('filters by parameter and by window overlap with [from, to), within the limit', async () => {
    expect(keys((await call({ parameter: 'P2' })).body)).toEqual(['run-1/P2']);
    expect(keys((await call({ parameter: 'P1', from: iso(T0 + 1.5 * HOUR), to: iso(T0 + 3 * HOUR) })).body)).toEqual([
      'run-1/P1',
      'run-2/P1',
    ]);
    expect(keys((await call({ from: '2026-11-22T11:00:00+02:00' })).body)).toEqual(['run-1/P1', 'run-1/P2', 'run-2/P1']);
    expect(keys((await call({ limit: 2 })).body)).toEqual(['run-1/P2', 'run-2/P1']); // the newest two, in time order
    expect((await call({ parameter: 'unknown' })).body).toEqual({ rows: [] });
  });

  it('replies 400 with the paths to a bad from, to, limit or an unknown field', async () => {
    const bad = await call({ from: 'yesterday' });
    expect(bad.status).toBe(400);
    const error = (bad.body as unknown as ErrorBody).error;
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.details.issues?.map((i) => i.path)).toEqual([['from']]);

    for (const [body, path] of [
      [{ from: '2026-11-22T10:00:00' }, ['from']], // no zone
      [{ to: 1_795_334_400 }, ['to']],
      [{ from: iso(T0 + HOUR), to: iso(T0) }, ['to']],
      [{ from: iso(T0), to: iso(T0) }, ['to']],
      [{ limit: 0 }, ['limit']],
      [{ limit: 1_001 }, ['limit']],
      [{ parameter: '' }, ['parameter']],
      [{ kind: 'grab' }, []],
    ] as const) {
      const r = await call(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect((r.body as unknown as ErrorBody).error.details.issues?.map((i) => i.path)).toEqual([path]);
    }
    expect((await call('{"from":')).status).toBe(400);
  });

  it('is listed in $SRV.INFO of daqflow-query under the prefix', async () => {
    const id = api.services[0]?.info().id;
    const m = await client.request(`$SRV.INFO.daqflow-query.${id}`, '', { timeout: 2_000 });
    const info = m.json<{ endpoints: Array<{ subject: string; metadata?: Record<string, string> }> }>();
    const stats = info.endpoints.find((e) => e.subject === `${prefix}.query.stats`);
    expect(stats?.metadata?.description).toMatch(/parameter\?, from\?, to\?/);
  });
});
