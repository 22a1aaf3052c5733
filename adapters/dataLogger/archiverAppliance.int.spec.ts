import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeArchiverAppliance, type FakeArchiverServer, type FakeSample } from '../../test/fakes/archiverApplianceServer.js';
import { collectSamples } from '../../test/fakes/collectSamples.js';
import { ValidationError } from '../../events/errors.js';
import { createArchiverApplianceSource } from './archiverAppliance.js';
import { DataLoggerError, isRetryable } from './errors.js';
import { createSimulatorSource } from './simulator.js';

const T0 = Date.parse('2024-03-01T00:00:00Z');
const S0 = T0 / 1000;
const at = (s: number): Date => new Date(T0 + s * 1000);

const weird = 'SR:C{01}-BI{DCCT:1}I:Total-I mean_3600 ?&=#%+';
const samples: FakeSample[] = [
  { secs: S0 - 5, nanos: 0, val: -1 }, // before the window: the appliance sends it, the adapter drops it
  { secs: S0, nanos: 0, val: 301.25 },
  { secs: S0, nanos: 123_456_789, val: Number.NaN, severity: 3, status: 17 },
  { secs: S0 + 1, nanos: 500_000_000, val: 'OFF' },
  { secs: S0 + 2, nanos: 999_999_999, val: [7.5] },
  { secs: S0 + 3, nanos: 1, val: Number.POSITIVE_INFINITY },
  { secs: S0 + 4, nanos: 0, val: -0.001 },
  { secs: S0 + 10, nanos: 0, val: 1e300 }, // exactly at `to`: out
];
const simulator = createSimulatorSource({
  seed: 3,
  rateHz: 10,
  parameters: {
    'SIM:BEAM': { shape: 'sine', amplitude: 5, periodS: 17, noise: 0.2, nanEvery: 13, units: 'mA' },
    'SIM:GAPPY': { shape: 'ramp', gaps: [{ from: at(100), to: at(250) }] },
  },
});

let server: FakeArchiverServer;
beforeAll(async () => {
  server = await startFakeArchiverAppliance({
    pvs: {
      'BL:CURRENT': { units: 'mA', prec: 3, samples },
      [weird]: { units: 'A', samples: [{ secs: S0 + 1, val: 1 }, { secs: S0 + 2, val: 2 }] },
      'BL:WAVE': { samples: [{ secs: S0 + 1, val: [1, 2, 3] }] },
      'BL:NOUNITS': { samples: [{ secs: S0 + 1, val: 9 }] },
      'BL:ODDUNITS': { units: 'NaN per -Infinity', samples: [{ secs: S0 + 1, val: Number.NEGATIVE_INFINITY }] },
    },
    source: simulator,
  });
});
afterAll(async () => {
  await server.close();
});

const requestsSince = (n: number): ReturnType<FakeArchiverServer['requests']> => server.requests().slice(n);

describe('archiver appliance source', () => {
  it('round-trips the samples of a window exactly, with units from meta.EGU', async () => {
    const source = createArchiverApplianceSource({ baseUrl: server.url });
    const got = await collectSamples(source, 'BL:CURRENT', at(0), at(10));
    expect(got.times).toEqual([S0, S0 + 0.123456789, S0 + 1.5, S0 + 2.999999999, S0 + 3 + 1e-9, S0 + 4]);
    expect(got.values).toEqual([301.25, Number.NaN, Number.NaN, 7.5, Number.POSITIVE_INFINITY, -0.001]);
    expect(got.units).toBe('mA');
    expect(got.batches.every((b) => b.units === 'mA')).toBe(true);
    expect(got.batches.at(-1)!.through).toEqual(at(10));
  });

  it('matches the simulator it serves, sample for sample, over many slices and batches, asking each slice once', async () => {
    const before = server.requests().length;
    const source = createArchiverApplianceSource({ baseUrl: server.url, sliceSeconds: 600, batchSize: 500 });
    const from = new Date(T0 + 123_456);
    const to = at(3600 + 0.3);
    const direct = await collectSamples(simulator, 'SIM:BEAM', from, to);
    const viaHttp = await collectSamples(source, 'SIM:BEAM', from, to);
    expect(viaHttp.times.length).toBe(direct.times.length);
    expect(viaHttp.times).toEqual(direct.times);
    expect(viaHttp.values).toEqual(direct.values);
    expect(viaHttp.units).toBe('mA');
    expect(Math.max(...viaHttp.batches.map((b) => b.times.length))).toBeLessThanOrEqual(500);
    const asked = requestsSince(before).map((r) => [r.pv, r.from, r.to, r.status]);
    expect(asked).toEqual([
      ['SIM:BEAM', from.toISOString(), at(600).toISOString(), 200],
      ...[600, 1200, 1800, 2400, 3000].map((s) => ['SIM:BEAM', at(s).toISOString(), at(s + 600).toISOString(), 200]),
      ['SIM:BEAM', at(3600).toISOString(), to.toISOString(), 200],
    ]);
  });

  it('resumes from a batch`s through after a retryable failure without asking a finished slice again', async () => {
    const source = createArchiverApplianceSource({ baseUrl: server.url, sliceSeconds: 100, batchSize: 256 });
    const whole = await collectSamples(source, 'SIM:GAPPY', at(0), at(400));
    const before = server.requests().length;
    const kept: number[] = [];
    let through = at(0);
    let failure: unknown;
    let slicesServed = 0;
    try {
      for await (const batch of source.fetchSamples('SIM:GAPPY', at(0), at(400))) {
        kept.push(...batch.times);
        through = batch.through;
        if (batch.through.getTime() === at(200).getTime() && slicesServed++ === 0) server.failNext(1, 503);
      }
    } catch (e) {
      failure = e;
    }
    expect(failure).toMatchObject({ reason: 'UNAVAILABLE', retryable: true, code: 'STORE_UNAVAILABLE' });
    expect(through).toEqual(at(200));
    const last = kept.at(-1)!;
    for await (const batch of source.fetchSamples('SIM:GAPPY', through, at(400))) kept.push(...batch.times.filter((t) => t > last));
    expect(kept).toEqual(whole.times);
    const keys = requestsSince(before).map((r) => `${r.from}/${r.to}/${r.status}`);
    expect(keys).toEqual([
      `${at(0).toISOString()}/${at(100).toISOString()}/200`,
      `${at(100).toISOString()}/${at(200).toISOString()}/200`, // all in the gap: an empty batch marks it done
      `${at(200).toISOString()}/${at(300).toISOString()}/503`,
      `${at(200).toISOString()}/${at(300).toISOString()}/200`,
      `${at(300).toISOString()}/${at(400).toISOString()}/200`,
    ]);
  });

  it('URL-encodes PV names with special characters', async () => {
    const before = server.requests().length;
    const source = createArchiverApplianceSource({ baseUrl: `${server.url}/` });
    const got = await collectSamples(source, weird, at(0), at(10));
    expect(got.values).toEqual([1, 2]);
    expect(got.units).toBe('A');
    expect(requestsSince(before).map((r) => r.pv)).toEqual([weird]);
  });

  it('answers an empty window with one empty batch after asking the appliance once', async () => {
    const before = server.requests().length;
    const source = createArchiverApplianceSource({ baseUrl: server.url });
    const got = await collectSamples(source, 'BL:CURRENT', at(4), at(4));
    expect(got.batches).toEqual([{ times: new Float64Array(0), values: new Float64Array(0), units: 'mA', through: at(4) }]);
    expect(requestsSince(before)).toHaveLength(1);
    const noUnits = await collectSamples(source, 'BL:NOUNITS', at(0), at(10));
    expect(noUnits.units).toBeUndefined();
    expect(noUnits.values).toEqual([9]);
    const odd = await collectSamples(source, 'BL:ODDUNITS', at(0), at(10));
    expect(odd).toMatchObject({ units: 'NaN per -Infinity', values: [Number.NEGATIVE_INFINITY] });
  });

  it('turns a 404 into an unknown-parameter error that is not retried', async () => {
    const source = createArchiverApplianceSource({ baseUrl: server.url });
    const error = await collectSamples(source, 'NO:SUCH:PV', at(0), at(10)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataLoggerError);
    expect(error).toMatchObject({ reason: 'UNKNOWN_PARAMETER', code: 'VALIDATION_FAILED', retryable: false, parameter: 'NO:SUCH:PV' });
    expect((error as Error).message).toContain('Unable to find typeinfo for pv NO:SUCH:PV');
    expect(isRetryable(error)).toBe(false);
    await expect(source.describe('NO:SUCH:PV')).resolves.toEqual({ exists: false });
    await expect(source.describe('BL:CURRENT')).resolves.toEqual({ exists: true, units: 'mA' });
  });

  it('turns a 400 into a validation error carrying the appliance`s message', async () => {
    const source = createArchiverApplianceSource({ baseUrl: server.url });
    const error = await collectSamples(source, 'mean_3600(BL:CURRENT', at(0), at(10)).catch((e: unknown) => e);
    expect(error).toMatchObject({ reason: 'BAD_REQUEST', code: 'VALIDATION_FAILED', retryable: false, status: 400 });
    expect((error as Error).message).toContain('Unbalanced parentheses in pv mean_3600(BL:CURRENT');
    await expect(collectSamples(source, 'BL:CURRENT', at(10), at(0))).rejects.toMatchObject({ reason: 'BAD_WINDOW' });
  });

  it('turns 503, other 5xx, 429 and a cut connection into retryable unavailable errors', async () => {
    const source = createArchiverApplianceSource({ baseUrl: server.url });
    for (const status of [503, 500, 502, 429]) {
      server.failNext(1, status);
      const error = await collectSamples(source, 'BL:CURRENT', at(0), at(10)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DataLoggerError);
      expect(error).toMatchObject({ reason: 'UNAVAILABLE', code: 'STORE_UNAVAILABLE', retryable: true, details: { status } });
    }
    server.failNext(1, 403);
    await expect(collectSamples(source, 'BL:CURRENT', at(0), at(10))).rejects.toMatchObject({ reason: 'REFUSED', retryable: false });
    server.cutNext(1);
    await expect(collectSamples(source, 'SIM:BEAM', at(0), at(600))).rejects.toMatchObject({ reason: 'UNAVAILABLE', retryable: true });
    // and the next request works again
    expect((await collectSamples(source, 'BL:CURRENT', at(0), at(10))).values).toHaveLength(6);
  });

  it('turns a refused connection into a retryable error', async () => {
    const closed = await startFakeArchiverAppliance();
    const url = closed.url;
    await closed.close();
    const source = createArchiverApplianceSource({ baseUrl: url });
    await expect(collectSamples(source, 'BL:CURRENT', at(0), at(10))).rejects.toMatchObject({ reason: 'UNAVAILABLE', retryable: true });
  });

  it('gives up on a slow answer after timeoutMs with a retryable timeout error', async () => {
    const source = createArchiverApplianceSource({ baseUrl: server.url, timeoutMs: 150 });
    server.delayNext(1, 2_000);
    const started = performance.now();
    const error = await collectSamples(source, 'BL:CURRENT', at(0), at(10)).catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(error).toMatchObject({ reason: 'TIMEOUT', code: 'STORE_UNAVAILABLE', retryable: true, parameter: 'BL:CURRENT' });
  });

  it('refuses waveforms and answers larger than the limit, without retry', async () => {
    const source = createArchiverApplianceSource({ baseUrl: server.url });
    await expect(collectSamples(source, 'BL:WAVE', at(0), at(10))).rejects.toMatchObject({
      reason: 'NOT_SCALAR',
      code: 'VALIDATION_FAILED',
      retryable: false,
    });
    const small = createArchiverApplianceSource({ baseUrl: server.url, maxResponseBytes: 10_000 });
    await expect(collectSamples(small, 'SIM:BEAM', at(0), at(600))).rejects.toMatchObject({ reason: 'BAD_RESPONSE', retryable: false });
  });

  it('ends at an aborted signal with the signal`s reason', async () => {
    const source = createArchiverApplianceSource({ baseUrl: server.url });
    const controller = new AbortController();
    server.delayNext(1, 1_000);
    setTimeout(() => controller.abort(new Error('stop now')), 50);
    await expect(collectSamples(source, 'BL:CURRENT', at(0), at(10), controller.signal)).rejects.toThrow('stop now');
  });

  it('checks its options and takes either form of the retrieval URL', async () => {
    expect(() => createArchiverApplianceSource({ baseUrl: 'not a url' })).toThrow(ValidationError);
    expect(() => createArchiverApplianceSource({ baseUrl: 'ftp://x/retrieval' })).toThrow(ValidationError);
    expect(() => createArchiverApplianceSource({ baseUrl: server.url, sliceSeconds: 0 })).toThrow(ValidationError);
    expect(() => createArchiverApplianceSource({ baseUrl: server.url, timeoutMs: -1 })).toThrow(ValidationError);
    for (const baseUrl of [`${server.url}/data`, `${server.url}/data/getData.json`]) {
      const got = await collectSamples(createArchiverApplianceSource({ baseUrl }), 'BL:NOUNITS', at(0), at(10));
      expect(got.values).toEqual([9]);
    }
  });
});
