import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../events/errors.js';
import { collectSamples } from '../../test/fakes/collectSamples.js';
import { DataLoggerError } from './errors.js';
import { createSimulatorSource, type SimulatorOptions } from './simulator.js';

const T0 = Date.parse('2024-03-01T00:00:00Z');
const at = (s: number): Date => new Date(T0 + s * 1000);

const options: SimulatorOptions = {
  seed: 7,
  rateHz: 10,
  parameters: {
    'X:SINE': { shape: 'sine', amplitude: 2, periodS: 13, noise: 0.1, units: 'mA' },
    'X:NOISE': { shape: 'noise', amplitude: 1, nanEvery: 7 },
    'X:RAMP': { shape: 'ramp', amplitude: 10, offset: 5, periodS: 20 },
    'X:STEP': { shape: 'step', amplitude: 3, periodS: 4 },
    'X:CONST': { shape: 'constant', amplitude: 42, offset: 0.5, units: 'K' },
    'X:GAPPY': { shape: 'sine', gaps: [{ from: at(10), to: at(20) }, { from: at(50).toISOString(), to: at(50.25).toISOString() }] },
  },
};

/** The bytes of a float64 array, so NaN payloads and signs compare exactly. */
const bytes = (xs: number[]): Buffer => Buffer.from(new Float64Array(xs).buffer);

describe('simulator source', () => {
  it('puts sample k at k / rateHz, in the half-open window [from, to)', async () => {
    const sim = createSimulatorSource(options);
    const { times } = await collectSamples(sim, 'X:SINE', at(1), at(3));
    expect(times).toHaveLength(20);
    const k0 = (T0 + 1000) / 100;
    times.forEach((t, i) => expect(t).toBe((k0 + i) / 10));
    expect(times[0]).toBe(at(1).getTime() / 1000); // from is in
    expect(times.at(-1)!).toBeLessThan(at(3).getTime() / 1000); // to is out
  });

  it('gives the same samples, bit for bit, however a window is cut into calls', async () => {
    const sim = createSimulatorSource(options);
    const whole = await collectSamples(sim, 'X:SINE', at(0), at(100));
    const wholeNoise = await collectSamples(sim, 'X:NOISE', at(0), at(100));
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: 99_999 }), { maxLength: 6 }), async (cutsMs) => {
        const edges = [0, ...cutsMs.sort((a, b) => a - b), 100_000];
        const times: number[] = [];
        const values: number[] = [];
        const noise: number[] = [];
        const other = createSimulatorSource({ ...options, batchSize: 333 });
        for (let i = 0; i + 1 < edges.length; i++) {
          const from = new Date(T0 + edges[i]!);
          const to = new Date(T0 + edges[i + 1]!);
          const part = await collectSamples(other, 'X:SINE', from, to);
          times.push(...part.times);
          values.push(...part.values);
          noise.push(...(await collectSamples(other, 'X:NOISE', from, to)).values);
        }
        expect(bytes(times).equals(bytes(whole.times))).toBe(true);
        expect(bytes(values).equals(bytes(whole.values))).toBe(true);
        expect(bytes(noise).equals(bytes(wholeNoise.values))).toBe(true);
      }),
      { numRuns: 30 },
    );
  });

  it('depends on its seed and the parameter name', async () => {
    const a = await collectSamples(createSimulatorSource(options), 'X:NOISE', at(0), at(10));
    const b = await collectSamples(createSimulatorSource({ ...options, seed: 8 }), 'X:NOISE', at(0), at(10));
    const c = await collectSamples(createSimulatorSource({ ...options, seed: '7' }), 'X:NOISE', at(0), at(10));
    const renamed = createSimulatorSource({ ...options, parameters: { 'X:NOISE2': options.parameters!['X:NOISE']! } });
    const d = await collectSamples(renamed, 'X:NOISE2', at(0), at(10));
    expect(a.times).toEqual(b.times);
    expect(a.values).not.toEqual(b.values);
    expect(a.values).not.toEqual(c.values);
    expect(a.values).not.toEqual(d.values);
  });

  it('makes every sample whose index is a multiple of nanEvery NaN, and only those', async () => {
    const { times, values } = await collectSamples(createSimulatorSource(options), 'X:NOISE', at(0), at(30));
    const nans = times.filter((t, i) => Number.isNaN(values[i]));
    expect(nans.length).toBeGreaterThanOrEqual(Math.floor(300 / 7));
    times.forEach((t, i) => expect(Number.isNaN(values[i]!)).toBe(Math.round(t * 10) % 7 === 0));
  });

  it('leaves gaps without samples, and the samples around them in place', async () => {
    const { times } = await collectSamples(createSimulatorSource(options), 'X:GAPPY', at(0), at(60));
    const s = (x: number): number => at(x).getTime() / 1000;
    expect(times.filter((t) => t >= s(10) && t < s(20))).toEqual([]);
    expect(times.filter((t) => t >= s(50) && t < s(50.25))).toEqual([]);
    expect(times).toContain(s(20));
    expect(times).toContain(s(9.9));
    expect(times).toContain(s(50.3));
    expect(times).toHaveLength(600 - 100 - 3);
    const inGap = await collectSamples(createSimulatorSource(options), 'X:GAPPY', at(11), at(19));
    expect(inGap.times).toEqual([]);
    expect(inGap.batches).toHaveLength(1);
    expect(inGap.batches[0]!.through).toEqual(at(19));
  });

  it('draws the configured shapes', async () => {
    const sim = createSimulatorSource(options);
    const values = async (p: string): Promise<number[]> => (await collectSamples(sim, p, at(0), at(40))).values;
    expect(new Set(await values('X:CONST'))).toEqual(new Set([42.5]));
    const ramp = await values('X:RAMP');
    expect(Math.min(...ramp)).toBeGreaterThanOrEqual(5);
    expect(Math.max(...ramp)).toBeLessThan(15);
    expect(new Set(await values('X:STEP'))).toEqual(new Set([0, 3]));
    const sine = await values('X:SINE');
    expect(Math.max(...sine.map(Math.abs))).toBeLessThanOrEqual(2.1);
    expect(Math.max(...sine)).toBeGreaterThan(1.8);
    const noise = (await values('X:NOISE')).filter((v) => !Number.isNaN(v));
    expect(Math.max(...noise.map(Math.abs))).toBeLessThanOrEqual(1);
    expect(Math.abs(noise.reduce((a, b) => a + b, 0) / noise.length)).toBeLessThan(0.1);
  });

  it('keeps its rate, including rates below 1 Hz and ones that do not divide a second', async () => {
    for (const [rateHz, seconds, expected] of [[0.5, 100, 50], [3, 10, 30], [1000, 2, 2000], [7, 1, 7]] as const) {
      const sim = createSimulatorSource({ ...options, rateHz });
      const { times } = await collectSamples(sim, 'X:CONST', at(0), at(seconds));
      expect(times).toHaveLength(expected);
    }
  });

  it('streams bounded batches whose through lets a stopped call resume without losing a sample', async () => {
    const sim = createSimulatorSource({ ...options, batchSize: 64 });
    const whole = await collectSamples(sim, 'X:SINE', at(0), at(100));
    expect(whole.batches.length).toBe(Math.ceil(1000 / 64));
    expect(Math.max(...whole.batches.map((b) => b.times.length))).toBe(64);
    expect(whole.batches.at(-1)!.through).toEqual(at(100));
    expect(whole.units).toBe('mA');
    for (const stopAfter of [0, 5, 11]) {
      const kept = whole.batches.slice(0, stopAfter + 1).flatMap((b) => [...b.times]);
      const through = whole.batches[stopAfter]!.through;
      const rest = await collectSamples(sim, 'X:SINE', through, at(100));
      const last = kept.at(-1)!;
      expect([...kept, ...rest.times.filter((t) => t > last)]).toEqual(whole.times);
    }
  });

  it('answers an empty window with one empty batch, and refuses an inverted one', async () => {
    const sim = createSimulatorSource(options);
    const empty = await collectSamples(sim, 'X:CONST', at(5), at(5));
    expect(empty.batches).toEqual([{ times: new Float64Array(0), values: new Float64Array(0), units: 'K', through: at(5) }]);
    const inverted = collectSamples(sim, 'X:CONST', at(6), at(5));
    await expect(inverted).rejects.toBeInstanceOf(DataLoggerError);
    await expect(inverted).rejects.toMatchObject({ reason: 'BAD_WINDOW', code: 'VALIDATION_FAILED', retryable: false });
    await expect(collectSamples(sim, 'X:CONST', new Date(Number.NaN), at(5))).rejects.toMatchObject({ reason: 'BAD_WINDOW' });
  });

  it('refuses an unknown parameter with the same error as the appliance, and describes known ones', async () => {
    const sim = createSimulatorSource(options);
    const error = await collectSamples(sim, 'NO:SUCH', at(0), at(1)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataLoggerError);
    expect(error).toMatchObject({ reason: 'UNKNOWN_PARAMETER', code: 'VALIDATION_FAILED', retryable: false, parameter: 'NO:SUCH' });
    expect((error as Error).message).toContain('NO:SUCH');
    await expect(sim.describe('NO:SUCH')).resolves.toEqual({ exists: false });
    await expect(sim.describe('X:SINE')).resolves.toEqual({ exists: true, units: 'mA' });
    await expect(sim.describe('X:RAMP')).resolves.toEqual({ exists: true });
    expect(createSimulatorSource({ seed: 1, rateHz: 1 }).parameters).toContain('SIM:SINE');
  });

  it('has event channels whose samples are the firing times, value 1, by default EVENT:00, EVENT:02 and EVENT:0F', async () => {
    const sim = createSimulatorSource({ seed: 1, rateHz: 1 });
    expect(sim.eventChannels).toEqual(['EVENT:00', 'EVENT:02', 'EVENT:0F']);
    expect(sim.parameters).not.toContain('EVENT:00');
    for (const channel of sim.eventChannels) await expect(sim.describe(channel)).resolves.toEqual({ exists: true });
    await expect(sim.describe('EVENT:01')).resolves.toEqual({ exists: false });
    await expect(collectSamples(sim, 'EVENT:01', at(0), at(1))).rejects.toMatchObject({ reason: 'UNKNOWN_PARAMETER' });
    const counts = await Promise.all(sim.eventChannels.map(async (c) => (await collectSamples(sim, c, at(0), at(120))).times.length));
    expect(counts).toEqual([120, 1200, 2]);
    // The default events grab is one second before midnight: the 1 Hz and 10 Hz channels fire in it.
    expect((await collectSamples(sim, 'EVENT:00', at(-1), at(0))).times).toEqual([T0 / 1000 - 1]);
    expect((await collectSamples(sim, 'EVENT:02', at(-1), at(0))).times).toHaveLength(10);

    const none = createSimulatorSource({ ...options, eventChannels: {} });
    expect(none.eventChannels).toEqual([]);
    await expect(none.describe('EVENT:00')).resolves.toEqual({ exists: false });
  });

  it('fires a configured channel at offsetS + k × everyS in [from, to), however the window is cut', async () => {
    const sim = createSimulatorSource({ ...options, batchSize: 4, eventChannels: { 'EV:A': { everyS: 0.5, offsetS: 0.25 } } });
    const s0 = T0 / 1000;
    const whole = await collectSamples(sim, 'EV:A', at(0.25), at(5.25));
    expect(whole.times).toEqual(Array.from({ length: 10 }, (_, k) => 0.25 + (2 * s0 + k) * 0.5));
    expect(whole.values).toEqual(new Array(10).fill(1));
    expect(whole.times[0]).toBe(s0 + 0.25); // from is in
    expect(whole.times.at(-1)).toBe(s0 + 4.75); // to is out
    expect(whole.batches.map((b) => b.times.length)).toEqual([4, 4, 2]);
    expect(whole.batches.at(-1)!.through).toEqual(at(5.25));
    expect(whole.units).toBeUndefined();
    const cut = [0.25, 1.1, 1.25, 3, 5.25];
    const parts: number[] = [];
    for (let i = 0; i + 1 < cut.length; i++) parts.push(...(await collectSamples(sim, 'EV:A', at(cut[i]!), at(cut[i + 1]!))).times);
    expect(parts).toEqual(whole.times);
    const quiet = await collectSamples(sim, 'EV:A', at(0.3), at(0.7));
    expect(quiet.batches).toEqual([{ times: new Float64Array(0), values: new Float64Array(0), through: at(0.7) }]);
    await expect(sim.describe('EV:A')).resolves.toEqual({ exists: true });
    expect(() => createSimulatorSource({ ...options, eventChannels: { 'X:SINE': { everyS: 1 } } })).toThrow(/X:SINE named both/);
  });

  it('refuses a bad configuration, naming the field', () => {
    const bad: Array<[unknown, string]> = [
      [{ seed: 1, rateHz: 0 }, 'rateHz'],
      [{ seed: 1, rateHz: -5 }, 'rateHz'],
      [{ seed: 1, rateHz: Number.NaN }, 'rateHz'],
      [{ seed: 1, rateHz: 2e6 }, 'rateHz'],
      [{ seed: Number.POSITIVE_INFINITY, rateHz: 1 }, 'seed'],
      [{ seed: 1, rateHz: 1, parameters: { A: { shape: 'square' } } }, 'parameters.A.shape'],
      [{ seed: 1, rateHz: 1, parameters: { A: { shape: 'sine', periodS: 0 } } }, 'parameters.A.periodS'],
      [{ seed: 1, rateHz: 1, parameters: { A: { shape: 'sine', nanEvery: 1.5 } } }, 'parameters.A.nanEvery'],
      [{ seed: 1, rateHz: 1, parameters: { A: { shape: 'sine', noise: -1 } } }, 'parameters.A.noise'],
      [{ seed: 1, rateHz: 1, parameters: { A: { shape: 'sine', gaps: [{ from: at(2), to: at(1) }] } } }, 'parameters.A.gaps.0'],
      [{ seed: 1, rateHz: 1, parameters: { A: { shape: 'sine', gaps: [{ from: 'yesterday', to: at(1) }] } } }, 'parameters.A.gaps.0.from'],
      [{ seed: 1, rateHz: 1, parameters: { A: { shape: 'sine', amplitud: 3 } } }, 'parameters.A'],
      [{ seed: 1, rateHz: 1, batchSize: 0 }, 'batchSize'],
      [{ seed: 1, rateHz: 1, eventChannels: { E: { everyS: 0 } } }, 'eventChannels.E.everyS'],
      [{ seed: 1, rateHz: 1, eventChannels: { E: { everyS: 1, offsetS: Number.NaN } } }, 'eventChannels.E.offsetS'],
    ];
    for (const [config, path] of bad) {
      let error: unknown;
      try {
        createSimulatorSource(config as SimulatorOptions);
      } catch (e) {
        error = e;
      }
      expect(error, JSON.stringify(config)).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).message).toContain(path);
    }
  });

  it('stops at an aborted signal with its reason', async () => {
    const sim = createSimulatorSource({ ...options, batchSize: 10 });
    const controller = new AbortController();
    let batches = 0;
    const run = async (): Promise<void> => {
      for await (const _ of sim.fetchSamples('X:SINE', at(0), at(100), controller.signal)) {
        if (++batches === 3) controller.abort(new Error('enough'));
      }
    };
    await expect(run()).rejects.toThrow('enough');
    expect(batches).toBe(3);
  });

  it('generates quickly (figure logged, not asserted)', async () => {
    const sim = createSimulatorSource({ seed: 1, rateHz: 1000 });
    for (const parameter of ['SIM:SINE', 'SIM:NOISE']) {
      const started = performance.now();
      let n = 0;
      for await (const b of sim.fetchSamples(parameter, at(0), at(4000))) n += b.times.length;
      const seconds = (performance.now() - started) / 1000;
      expect(n).toBe(4_000_000);
      console.log(`simulator ${parameter}: ${n} samples in ${seconds.toFixed(3)} s = ${(n / seconds / 1e6).toFixed(1)} M samples/s`);
    }
  });
});
