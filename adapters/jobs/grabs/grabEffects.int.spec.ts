import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import h5wasm from 'h5wasm/node';
import type { File as H5File } from 'h5wasm/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkCountOf, chunkOf, slicesOf, type GrabPlan } from '../../../actors/grabs/grabPlan.js';
import { eventChannelsOf } from '../../../actors/grabs/grabRequest.js';
import type { AssembleParams, FetchChunkParams } from '../../../actors/grabs/grabRun.effects.js';
import { grabRunEventSchemas, type ChunkWritten, type FileWritten, type GrabMode } from '../../../actors/grabs/grabRun.events.js';
import type { EffectContext, EffectHandler } from '../../../actors/runtime/index.js';
import { isDaqflowError } from '../../../events/errors.js';
import { startFakeArchiverAppliance, type FakeArchiverServer, type FakeSample } from '../../../test/fakes/archiverApplianceServer.js';
import { collectSamples } from '../../../test/fakes/collectSamples.js';
import { createArchiverApplianceSource } from '../../dataLogger/archiverAppliance.js';
import type { DataLoggerSource } from '../../dataLogger/dataLoggerSource.js';
import { createSimulatorSource } from '../../dataLogger/simulator.js';
import { escapeParameterName, parseGrabFileName } from '../../hdf5/grabFileLayout.js';
import { createGrabEffects } from './grabEffects.js';

const T0 = Date.parse('2024-03-01T00:00:00Z');
const S0 = T0 / 1000;
const at = (s: number): string => new Date(T0 + s * 1000).toISOString();
const created = '2024-03-01T01:00:00.000Z';

const scratch = mkdtempSync(join(tmpdir(), 'daqflow-grab-effects-'));
const dataRoot = join(scratch, 'root');
const draftDir = join(dataRoot, 'drafts');
const outDir = join(dataRoot, 'out');

/** Served from fixed samples: NaN, ±Infinity, a string, a one-element array, equal times, a tie for the mode. */
const fixedSamples: FakeSample[] = [
  { secs: S0 - 3, val: 99 }, // before the window: the appliance sends it, nobody keeps it
  { secs: S0, val: 1.5 },
  { secs: S0, nanos: 500_000_000, val: 1.5 },
  { secs: S0 + 1, val: Number.NaN },
  { secs: S0 + 3, val: 'OFF' },
  { secs: S0 + 5, val: Number.POSITIVE_INFINITY },
  { secs: S0 + 5, val: 2.25 }, // same time: a zero interval
  { secs: S0 + 19, nanos: 999_999_999, val: 7 },
  { secs: S0 + 20, val: 7 }, // first sample of slice 1
  { secs: S0 + 21, val: [3] },
  { secs: S0 + 33, nanos: 250_000_000, val: 7 },
  { secs: S0 + 59, nanos: 1, val: 1.5 },
  { secs: S0 + 60, val: 1e300 }, // at the window's stop: out
];
const simulator = createSimulatorSource({
  seed: 'grab-effects',
  rateHz: 10,
  parameters: { 'SIM:BEAM': { shape: 'sine', amplitude: 5, periodS: 17, noise: 0.2, nanEvery: 13, units: 'mA' } },
});

const plan: GrabPlan = { parameters: ['BL:FIXED', 'SIM:BEAM', 'BL:EMPTY'], startMs: T0, stopMs: T0 + 60_000, chunkSeconds: 20 };

let server: FakeArchiverServer;
let archiver: DataLoggerSource;

beforeAll(async () => {
  await h5wasm.ready;
  server = await startFakeArchiverAppliance({
    pvs: {
      'BL:FIXED': { units: 'mA', samples: fixedSamples },
      'BL:EMPTY': { units: 'V', samples: [{ secs: S0 - 100, val: 1 }] },
    },
    source: simulator,
  });
  // Small batches, so that a chunk is written in many appends.
  archiver = createArchiverApplianceSource({ baseUrl: server.url, batchSize: 7 });
});
afterAll(async () => {
  await server.close();
  rmSync(scratch, { recursive: true, force: true });
});

const contextOf = (id: string, signal = new AbortController().signal): EffectContext => ({
  kind: 'grab',
  id,
  version: 1,
  correlationId: `corr-${id}`,
  signal,
  // The grab effects report nothing while they run: a report here is a bug.
  report: (event) => Promise.reject(new Error(`unexpected report ${event.type}`)),
});

const effectsOf = (source: DataLoggerSource): Record<'fetchChunk' | 'assemble' | 'discard', (params: unknown, ctx: EffectContext) => Promise<unknown>> => {
  const handlers = createGrabEffects({ source, dataRoot, assemblePieceSamples: 5 });
  const call = (name: keyof typeof handlers) => (params: unknown, ctx: EffectContext) => (handlers[name] as EffectHandler)(params as never, ctx);
  return { fetchChunk: call('fetchChunk'), assemble: call('assemble'), discard: call('discard') };
};

const fetchParams = (p: GrabPlan, index: number, mode: GrabMode = 'parameters', attempt = 1): FetchChunkParams => {
  const c = chunkOf(p, index);
  return { mode, index, attempt, parameter: c.parameter, from: c.from, to: c.to, draftDir };
};

const assembleParams = (p: GrabPlan, mode: GrabMode = 'parameters', chunks = chunkCountOf(p)): AssembleParams => ({
  mode,
  parameters: p.parameters,
  start: new Date(p.startMs).toISOString(),
  stop: new Date(p.stopMs).toISOString(),
  created,
  draftDir,
  outDir,
  chunks,
  slices: slicesOf(p),
});

const workDirOf = (id: string): string => join(draftDir, `.daqflow-grab-${id}`);

/** What the fake serves for a window, worked out here from the fixture, not through the adapter. */
const servedFixed = (fromS: number, toS: number): { times: number[]; values: number[] } => {
  const times: number[] = [];
  const values: number[] = [];
  for (const s of fixedSamples) {
    const t = s.secs + (s.nanos ?? 0) / 1e9;
    if (t < fromS || t >= toS) continue;
    times.push(t);
    const v = s.val;
    values.push(typeof v === 'number' ? v : Array.isArray(v) && v.length === 1 && typeof v[0] === 'number' ? v[0] : Number.NaN);
  }
  return { times, values };
};

/** The samples of a parameter in a window, from the data behind the fake (fixture or simulator). */
const served = async (parameter: string, from: string, to: string): Promise<{ times: number[]; values: number[] }> => {
  if (parameter === 'BL:FIXED') return servedFixed(Date.parse(from) / 1000, Date.parse(to) / 1000);
  if (parameter === 'BL:EMPTY') return { times: [], values: [] };
  const { times, values } = await collectSamples(simulator, parameter, new Date(from), new Date(to));
  return { times, values };
};

interface Naive {
  count: number;
  nanCount: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  std: number | null;
  mode: number | null;
}

/** Two passes over a plain array: the textbook definitions, sharing no code with the accumulator. */
const naiveSeries = (xs: number[], nanCount: number): Naive => {
  const n = xs.length;
  if (n === 0) return { count: 0, nanCount, min: null, max: null, mean: null, std: null, mode: null };
  let sum = 0;
  for (const x of xs) sum += x;
  const mean = sum / n;
  let squares = 0;
  for (const x of xs) squares += (x - mean) ** 2;
  const counts = new Map<number, number>();
  for (const x of xs) counts.set(x, (counts.get(x) ?? 0) + 1);
  const best = Math.max(...counts.values());
  const mode = Math.min(...[...counts].filter(([, c]) => c === best).map(([x]) => x));
  return {
    count: n,
    nanCount,
    min: Math.min(...xs),
    max: Math.max(...xs),
    mean,
    std: n < 2 ? null : Math.sqrt(squares / (n - 1)),
    mode,
  };
};

const naiveStatistics = (times: number[], values: number[]): Naive & { firstTime: number | null; lastTime: number | null; interval: Naive } => {
  const finite = values.filter((v) => Number.isFinite(v)).map((v) => (v === 0 ? 0 : v));
  const intervals = times.slice(1).map((t, i) => t - times[i]!);
  return {
    ...naiveSeries(finite, values.length - finite.length),
    firstTime: times[0] ?? null,
    lastTime: times.at(-1) ?? null,
    interval: naiveSeries(intervals, 0),
  };
};

/** Exact where the value is exact (counts, extremes, mode, times), within rounding for mean and std. */
const expectStatistics = (actual: Record<string, unknown>, expected: Naive & { firstTime?: number | null; lastTime?: number | null }, what: string): void => {
  const scale = Math.max(1, Math.abs(expected.min ?? 0), Math.abs(expected.max ?? 0));
  for (const key of ['count', 'nanCount', 'min', 'max', 'mode', 'firstTime', 'lastTime'] as const) {
    if (key in expected) expect(actual[key], `${what} ${key}`).toBe(expected[key]);
  }
  for (const key of ['mean', 'std'] as const) {
    const e = expected[key];
    const a = actual[key];
    if (e === null) expect(a, `${what} ${key}`).toBeNull();
    else expect(Math.abs((a as number) - e), `${what} ${key}: ${String(a)} vs ${e}`).toBeLessThanOrEqual(1e-9 * scale);
  }
};

const withFile = <T>(path: string, f: (file: H5File) => T): T => {
  const file = new h5wasm.File(path, 'r');
  try {
    return f(file);
  } finally {
    file.close();
  }
};
const read = (file: H5File, path: string): Float64Array => {
  const d = file.get(path);
  if (!(d instanceof h5wasm.Dataset)) throw new Error(`${path} is not a dataset`);
  const v = d.value;
  if (!(v instanceof Float64Array)) throw new Error(`${path} is not float64`);
  return v;
};
const attr = (file: H5File, path: string, name: string): unknown => {
  const entity = path === '/' ? file : file.get(path);
  if (!(entity instanceof h5wasm.Group) && !(entity instanceof h5wasm.Dataset)) throw new Error(`${path} has no attributes`);
  return entity.attrs[name]?.value;
};
/** Every dataset of a file, by path, as plain arrays (NaN kept as NaN, compared with Object.is by toEqual). */
const datasetsOf = (path: string): Record<string, number[]> =>
  withFile(path, (file) =>
    Object.fromEntries(
      file.keys().flatMap((key) => ['utc_seconds', 'value'].map((d) => [`${key}/${d}`, [...read(file, `/${key}/${d}`)]])),
    ),
  );

const expectSameNumbers = (actual: ArrayLike<number>, expected: readonly number[], what: string): void => {
  expect(actual.length, `${what} length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) expect.fail(`${what} element ${i}: ${actual[i]} !== ${expected[i]}`);
  }
};

const expectRejected = async (p: Promise<unknown>, message: RegExp): Promise<unknown> => {
  const e = await p.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error,
  );
  expect((e as Error).message).toMatch(message);
  return e;
};

describe('grab effects, against the loopback archiver appliance', () => {
  const id = 'run-main';
  let file: FileWritten;

  it('fetches every chunk, each with its own statistics, into the work folder', async () => {
    const effects = effectsOf(archiver);
    expect(chunkCountOf(plan)).toBe(9);
    for (let index = 0; index < chunkCountOf(plan); index++) {
      const params = fetchParams(plan, index);
      const outcome = (await effects.fetchChunk(params, contextOf(id))) as { type: string; data: ChunkWritten };
      expect(outcome.type, `chunk ${index}`).toBe('chunkWritten');
      expect(grabRunEventSchemas.chunkWritten.schema.parse(outcome.data)).toEqual(outcome.data);
      const expected = await served(params.parameter, params.from, params.to);
      expect(outcome.data).toMatchObject({
        index,
        parameter: params.parameter,
        from: params.from,
        to: params.to,
        samples: expected.times.length,
        bytes: expected.times.length * 16,
        units: params.parameter === 'BL:EMPTY' ? 'V' : 'mA',
        missing: false,
      });
      // A chunk's own statistics carry no mode: the exact mode is the run's, computed at assembly.
      const naive = naiveStatistics(expected.times, expected.values);
      expectStatistics(outcome.data.statistics, { ...naive, mode: null }, `chunk ${index}`);
      expectStatistics(outcome.data.statistics.interval, { ...naive.interval, mode: null }, `chunk ${index} interval`);
    }
    const work = readdirSync(workDirOf(id)).sort();
    expect(work).toHaveLength(18);
    expect(work.filter((n) => n.startsWith('.'))).toEqual([]); // no temporary file left
  });

  it('assembles one MLParamData file holding exactly the served samples, and statistics equal to a naive computation', async () => {
    const effects = effectsOf(archiver);
    const outcome = (await effects.assemble(assembleParams(plan), contextOf(id))) as { type: string; data: FileWritten };
    expect(outcome.type).toBe('fileWritten');
    file = grabRunEventSchemas.fileWritten.schema.parse(outcome.data);
    expect(dirname(file.path)).toBe(outDir);
    expect(parseGrabFileName(basename(file.path))).toEqual({
      createdUnix: Date.parse(created) / 1000,
      window: { start: new Date(T0), stop: new Date(T0 + 60_000) },
    });
    expect(file.windowStart).toBe(at(0));
    expect(file.windowStop).toBe(at(60));
    expect(readdirSync(outDir)).toEqual([basename(file.path)]);

    let total = 0;
    const byParameter = new Map(file.statistics.map((s) => [s.parameter, s]));
    expect([...byParameter.keys()]).toEqual(plan.parameters);
    for (const parameter of plan.parameters) {
      const expected = await served(parameter, at(0), at(60));
      total += expected.times.length;
      withFile(file.path, (h5) => {
        const key = escapeParameterName(parameter);
        expectSameNumbers(read(h5, `/${key}/utc_seconds`), expected.times, `${parameter} times`);
        expectSameNumbers(read(h5, `/${key}/value`), expected.values, `${parameter} values`);
        expect(attr(h5, `/${key}/value`, 'units')).toBe(parameter === 'BL:EMPTY' ? 'V' : 'mA');
      });
      const stats = byParameter.get(parameter)!;
      expect(stats.units).toBe(parameter === 'BL:EMPTY' ? 'V' : 'mA');
      const naive = naiveStatistics(expected.times, expected.values);
      expectStatistics(stats, naive, parameter);
      expectStatistics(stats.interval, naive.interval, `${parameter} interval`);
    }
    // The fixture was chosen to exercise the rules: a tie for the mode, NaN/±Infinity left out, a zero interval.
    expect(byParameter.get('BL:FIXED')).toMatchObject({ count: 8, nanCount: 3, mode: 1.5, interval: { min: 0 } });
    expect(byParameter.get('SIM:BEAM')?.count).toBeGreaterThan(500);
    expect(byParameter.get('BL:EMPTY')).toMatchObject({ count: 0, nanCount: 0, firstTime: null, interval: { count: 0 } });
    expect(file.samples).toBe(total);

    withFile(file.path, (h5) => {
      expect(file.bytes).toBeGreaterThan(0);
      expect(attr(h5, '/', 'daqflow_run_id')).toBe(id);
      expect(attr(h5, '/', 'window_start')).toBe(at(0));
      expect(attr(h5, '/', 'created')).toBe(created);
    });
    // The work folder stays until the machine asks for discard.
    expect(existsSync(workDirOf(id))).toBe(true);
  });

  it('rewrites a chunk identically when fetchChunk runs again', async () => {
    const effects = effectsOf(archiver);
    const names = ['chunk-000004.f64', 'chunk-000004.json'];
    const before = names.map((n) => readFileSync(join(workDirOf(id), n)));
    const first = await effects.fetchChunk(fetchParams(plan, 4), contextOf(id));
    const again = await effects.fetchChunk(fetchParams(plan, 4), contextOf(id));
    expect(again).toEqual(first);
    names.forEach((n, i) => expect(readFileSync(join(workDirOf(id), n)).equals(before[i]!), n).toBe(true));
    expect(readdirSync(workDirOf(id)).filter((n) => n.startsWith('.chunk'))).toEqual([]);
  });

  it('rebuilds the same file when assemble runs again: after a finished run, and over a half-written draft', async () => {
    const effects = effectsOf(archiver);
    const datasets = datasetsOf(file.path);
    expect(Object.keys(datasets)).toHaveLength(6);

    const again = (await effects.assemble(assembleParams(plan), contextOf(id))) as { data: FileWritten };
    expect(again.data).toEqual({ ...file, bytes: again.data.bytes });
    expect(datasetsOf(file.path)).toEqual(datasets);

    // A crash mid-assemble: a broken draft in the work folder, no final file yet.
    unlinkSync(file.path);
    const draft = join(workDirOf(id), `.${basename(file.path)}.draft`);
    writeFileSync(draft, 'not an HDF5 file, cut off');
    const rebuilt = (await effects.assemble(assembleParams(plan), contextOf(id))) as { data: FileWritten };
    expect(rebuilt.data.path).toBe(file.path);
    expect(rebuilt.data.statistics).toEqual(file.statistics);
    expect(datasetsOf(file.path)).toEqual(datasets);
    expect(existsSync(draft)).toBe(false);
  });

  it('reports a 503 of the appliance as a retryable chunkFailed, leaving no chunk behind', async () => {
    const effects = effectsOf(archiver);
    server.failNext(1, 503);
    const outcome = await effects.fetchChunk(fetchParams(plan, 3, 'parameters', 2), contextOf('run-503'));
    expect(outcome).toMatchObject({
      type: 'chunkFailed',
      data: { index: 3, attempt: 2, parameter: 'SIM:BEAM', reason: 'UNAVAILABLE', retryable: true },
    });
    expect((outcome as { data: { message: string } }).data.message).toContain('503');
    grabRunEventSchemas.chunkFailed.schema.parse((outcome as { data: unknown }).data);
    expect(readdirSync(workDirOf('run-503'))).toEqual([]);
    // The retry succeeds.
    expect(await effects.fetchChunk(fetchParams(plan, 3, 'parameters', 3), contextOf('run-503'))).toMatchObject({ type: 'chunkWritten' });
  });

  it('reports an unknown parameter as a chunkFailed that is not retryable (parameters mode)', async () => {
    const effects = effectsOf(archiver);
    const unknown: GrabPlan = { ...plan, parameters: ['NO:SUCH:PV'] };
    const outcome = await effects.fetchChunk(fetchParams(unknown, 0), contextOf('run-unknown'));
    expect(outcome).toMatchObject({
      type: 'chunkFailed',
      data: { index: 0, attempt: 1, parameter: 'NO:SUCH:PV', reason: 'UNKNOWN_PARAMETER', retryable: false },
    });
  });

  it('throws, naming the file, when a chunk work file is missing or corrupt, and publishes nothing', async () => {
    const effects = effectsOf(archiver);
    const small: GrabPlan = { ...plan, parameters: ['BL:FIXED'] };
    const rid = 'run-corrupt';
    const outSmall = join(dataRoot, 'out-corrupt');
    for (let i = 0; i < 3; i++) await effects.fetchChunk(fetchParams(small, i), contextOf(rid));
    const params = { ...assembleParams(small), outDir: outSmall };
    const dir = workDirOf(rid);

    const samples = join(dir, 'chunk-000001.f64');
    const good = readFileSync(samples);
    const flipped = Buffer.from(good);
    flipped[3] = flipped[3]! ^ 0xff;
    writeFileSync(samples, flipped);
    await expectRejected(effects.assemble(params, contextOf(rid)), /chunk-000001\.f64 is corrupt: (its SHA-256|sample time)/);
    writeFileSync(samples, good.subarray(0, good.length - 16));
    await expectRejected(effects.assemble(params, contextOf(rid)), /chunk-000001\.f64 is corrupt: \d+ bytes/);
    writeFileSync(samples, good);

    writeFileSync(join(dir, 'chunk-000002.json'), '{"version":1,');
    await expectRejected(effects.assemble(params, contextOf(rid)), /chunk-000002\.json of chunk 2 \(BL:FIXED\) is corrupt/);
    unlinkSync(join(dir, 'chunk-000002.json'));
    await expectRejected(effects.assemble(params, contextOf(rid)), /chunk-000002\.json of chunk 2 \(BL:FIXED\) cannot be read/);
    expect(readdirSync(outSmall)).toEqual([]);

    await effects.fetchChunk(fetchParams(small, 2), contextOf(rid));
    expect(await effects.assemble(params, contextOf(rid))).toMatchObject({ type: 'fileWritten' });
  });

  it('refuses to assemble fewer chunks than planned in parameters mode', async () => {
    const effects = effectsOf(archiver);
    await expectRejected(effects.assemble(assembleParams(plan, 'parameters', 8), contextOf(id)), /8 chunks .* planned with 9/);
  });

  it('gives no outcome when the runtime is stopping (aborted signal), and leaves no chunk', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stopping'));
    const effects = effectsOf(createSimulatorSource({ seed: 1, rateHz: 10 }));
    const sim: GrabPlan = { ...plan, parameters: ['SIM:SINE'] };
    expect(await effects.fetchChunk(fetchParams(sim, 0), contextOf('run-abort', controller.signal))).toBeUndefined();
    expect(readdirSync(workDirOf('run-abort'))).toEqual([]);
  });

  it('discards the work folder (its draft with it), accepts a missing one, and refuses folders outside the data root', async () => {
    const effects = effectsOf(archiver);
    expect(existsSync(workDirOf(id))).toBe(true);
    await effects.discard({ draftDir }, contextOf(id));
    expect(existsSync(workDirOf(id))).toBe(false);
    expect(existsSync(workDirOf('run-503'))).toBe(true); // another run's folder is left alone
    expect(existsSync(file.path)).toBe(true); // and the published file, of course
    await effects.discard({ draftDir }, contextOf(id));

    const outside = mkdtempSync(join(tmpdir(), 'daqflow-grab-outside-'));
    try {
      const victim = join(outside, `.daqflow-grab-${id}`);
      writeFileSync(join(outside, 'keep'), 'x');
      const e = await expectRejected(effects.discard({ draftDir: outside }, contextOf(id)), /outside the data root/);
      expect(isDaqflowError(e) && e.code).toBe('VALIDATION_FAILED');
      await expectRejected(effects.discard({ draftDir: join(draftDir, '..', '..', '..') }, contextOf(id)), /outside the data root/);
      expect(existsSync(join(outside, 'keep'))).toBe(true);
      expect(existsSync(victim)).toBe(false);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });
});

describe('grab effects in events mode, with the simulator', () => {
  const events: GrabPlan = {
    parameters: eventChannelsOf('EVENT:{hex}', 0x0f),
    startMs: T0,
    stopMs: T0 + 120_000,
    chunkSeconds: 60,
  };
  const source = createSimulatorSource({ seed: 'events', rateHz: 1 });

  it('records channels the source does not have as missing, and leaves them out of an MLEventData file', async () => {
    const effects = effectsOf(source);
    const id = 'run-events';
    const present = new Set<string>();
    for (let index = 0; index < chunkCountOf(events); index++) {
      const params = fetchParams(events, index, 'events');
      const outcome = (await effects.fetchChunk(params, contextOf(id))) as { type: string; data: ChunkWritten };
      expect(outcome.type).toBe('chunkWritten');
      const known = source.eventChannels.includes(params.parameter);
      expect(outcome.data.missing, params.parameter).toBe(!known);
      if (!known) expect(outcome.data).toMatchObject({ samples: 0, bytes: 0, units: null, statistics: { count: 0 } });
      if (outcome.data.samples > 0) present.add(params.parameter);
    }
    expect([...present]).toEqual(['EVENT:00', 'EVENT:02', 'EVENT:0F']);

    const outcome = (await effects.assemble(assembleParams(events, 'events'), contextOf(id))) as { data: FileWritten };
    const written = grabRunEventSchemas.fileWritten.schema.parse(outcome.data);
    expect(basename(written.path)).toMatch(/^MLEventData_\d+_20240301T000000Z_to_20240301T000200Z\.h5$/);
    expect(parseGrabFileName(basename(written.path), 'MLEventData')).toBeDefined();
    expect(parseGrabFileName(basename(written.path))).toBeUndefined();
    expect(written.statistics.map((s) => s.parameter)).toEqual(['EVENT:00', 'EVENT:02', 'EVENT:0F']);
    withFile(written.path, (h5) => {
      expect(h5.keys().sort()).toEqual(['EVENT:00', 'EVENT:02', 'EVENT:0F']);
      expect(attr(h5, '/', 'daqflow_run_id')).toBe(id);
    });
    const counts = { 'EVENT:00': 120, 'EVENT:02': 1200, 'EVENT:0F': 2 };
    for (const [channel, n] of Object.entries(counts)) {
      const direct = await collectSamples(source, channel, new Date(events.startMs), new Date(events.stopMs));
      expect(direct.times).toHaveLength(n);
      withFile(written.path, (h5) => {
        expectSameNumbers(read(h5, `/${channel}/utc_seconds`), direct.times, channel);
        expectSameNumbers(read(h5, `/${channel}/value`), new Array<number>(n).fill(1), channel);
      });
      const stats = written.statistics.find((s) => s.parameter === channel)!;
      expect(stats).toMatchObject({ count: n, nanCount: 0, min: 1, max: 1, mode: 1, units: null });
      expectStatistics(stats.interval, naiveStatistics(direct.times, direct.values).interval, `${channel} interval`);
    }
    expect(written.samples).toBe(120 + 1200 + 2);

    // A first-only run stops after the first channel with firings: only its chunks are assembled.
    const firstOnly = (await effects.assemble(assembleParams(events, 'events', 2), contextOf(id))) as { data: FileWritten };
    expect(firstOnly.data.statistics.map((s) => s.parameter)).toEqual(['EVENT:00']);
    withFile(firstOnly.data.path, (h5) => expect(h5.keys()).toEqual(['EVENT:00']));
    await effects.discard({ draftDir }, contextOf(id));
    expect(existsSync(workDirOf(id))).toBe(false);
  });
});
