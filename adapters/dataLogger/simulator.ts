/**
 * A simulated data logger for the demo and the tests: deterministic, fast, configurable.
 *
 * - Sample k of every parameter is at time `k / rateHz` seconds since the epoch (float64 division),
 *   so a window holds exactly the k with `from/1000 <= k/rateHz < to/1000`.
 * - A value depends only on (seed, parameter, k): noise and NaNs come from a hash of the three, not
 *   from a stateful generator, so any way of cutting a window into calls, and any order of calls,
 *   gives the same samples bit for bit.
 * - Each value is `offset + amplitude × shape(t) + noise × u`, with u uniform in [-1, 1) and
 *   shape(t) for the phase p = frac(t / periodS):
 *   `sine` sin(2πp), `ramp` p (a sawtooth from 0 to 1), `step` 0 for p < ½ and 1 after,
 *   `noise` a second uniform draw in [-1, 1), `constant` 1.
 * - `nanEvery: n` makes every sample with k a multiple of n NaN; `gaps` are time ranges [from, to)
 *   with no samples at all (a data logger that was down).
 * - Event channels (for events-mode grabs) hold the times a timing event fired, value 1 each:
 *   firing k is at `offsetS + k × everyS` seconds since the epoch, for every integer k, so a
 *   window holds exactly the firings in [from, to). Without the option the simulator has three,
 *   `defaultSimulatedEventChannels`.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { z } from 'zod';
import { ValidationError } from '../../events/errors.js';
import {
  DEFAULT_BATCH_SAMPLES,
  millisecondAtOrBefore,
  windowSeconds,
  type DataLoggerSource,
  type ParameterDescription,
  type SampleBatch,
} from './dataLoggerSource.js';
import { unknownParameter } from './errors.js';

export const simulatedShapes = ['sine', 'ramp', 'noise', 'step', 'constant'] as const;
export type SimulatedShape = (typeof simulatedShapes)[number];

export interface SimulatedParameter {
  shape: SimulatedShape;
  /** Scale of the shape. Default 1. */
  amplitude?: number;
  /** Added to every value. Default 0. */
  offset?: number;
  /** Period of sine, ramp and step, in seconds. Default 60. */
  periodS?: number;
  /** Amplitude of the uniform noise added to every value. Default 0. */
  noise?: number;
  /** Every sample whose index k is a multiple of this is NaN. */
  nanEvery?: number;
  /** Time ranges [from, to) without samples. */
  gaps?: ReadonlyArray<{ from: Date | string; to: Date | string }>;
  units?: string;
}

/** A timing event's channel: it fires at `offsetS + k × everyS` seconds since the epoch. */
export interface SimulatedEventChannel {
  /** Seconds between firings, at least 1 µs. */
  everyS: number;
  /** Time of firing 0, in seconds since the epoch. Default 0. */
  offsetS?: number;
}

export interface SimulatorOptions {
  /** Any number or string; the same seed gives the same samples. */
  seed: number | string;
  /** Samples per second of every parameter, up to 1 MHz. */
  rateHz: number;
  /** The parameters and their signals. Default: `defaultSimulatedParameters`. */
  parameters?: Readonly<Record<string, SimulatedParameter>>;
  /** Event channels, by name. Default: `defaultSimulatedEventChannels`; `{}` for none. */
  eventChannels?: Readonly<Record<string, SimulatedEventChannel>>;
  /** Samples per batch. Default 4,096. */
  batchSize?: number;
}

/** The parameters of a simulator configured without any: one of each shape, and one with NaNs. */
export const defaultSimulatedParameters: Readonly<Record<string, SimulatedParameter>> = {
  'SIM:SINE': { shape: 'sine', amplitude: 1, periodS: 60, noise: 0.01, units: 'V' },
  'SIM:RAMP': { shape: 'ramp', amplitude: 100, periodS: 600, units: 'mA' },
  'SIM:NOISE': { shape: 'noise', amplitude: 1 },
  'SIM:STEP': { shape: 'step', amplitude: 5, offset: -2.5, periodS: 120, units: 'A' },
  'SIM:CONST': { shape: 'constant', amplitude: 42, units: 'K' },
  'SIM:NANS': { shape: 'sine', amplitude: 10, periodS: 30, nanEvery: 10, units: 'mm' },
};

/**
 * The event channels of a simulator configured without any, named as the default `EVENT:{hex}`
 * pattern of an events grab: a 1 Hz cycle, a 10 Hz one, and one every minute. The other codes
 * do not exist, as on a real timing system where most codes are unused.
 */
export const defaultSimulatedEventChannels: Readonly<Record<string, SimulatedEventChannel>> = {
  'EVENT:00': { everyS: 1 },
  'EVENT:02': { everyS: 0.1, offsetS: 0.05 },
  'EVENT:0F': { everyS: 60, offsetS: 7.5 },
};

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const instant = z.union([z.date(), z.string()]).transform((v, ctx) => {
  const ms = (typeof v === 'string' ? new Date(v) : v).getTime();
  if (!Number.isFinite(ms)) ctx.addIssue({ code: 'custom', message: 'must be a valid date or ISO 8601 time' });
  return ms / 1000;
});
const parameterSchema = z.strictObject({
  shape: z.enum(simulatedShapes),
  amplitude: finite.default(1),
  offset: finite.default(0),
  periodS: finite.positive().default(60),
  noise: finite.min(0).default(0),
  nanEvery: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  gaps: z
    .array(
      z.strictObject({ from: instant, to: instant }).refine((g) => !(g.from > g.to), 'a gap must not end before it starts'),
    )
    .default([]),
  units: z.string().min(1).optional(),
});
const eventChannelSchema = z.strictObject({
  everyS: finite.min(1e-6),
  offsetS: finite.default(0),
});
const optionsSchema = z.strictObject({
  seed: z.union([finite, z.string()]),
  rateHz: finite.positive().max(1e6),
  parameters: z.record(z.string().min(1), parameterSchema).optional(),
  eventChannels: z.record(z.string().min(1), eventChannelSchema).optional(),
  batchSize: z.number().int().min(1).max(1 << 24).default(DEFAULT_BATCH_SAMPLES),
});

type Compiled = z.infer<typeof parameterSchema> & { key: number };

/** FNV-1a over the UTF-16 code units of a string. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A uniform number in [0, 1) from a 32-bit key and a sample index (an integer below 2^53). */
function uniform(key: number, k: number): number {
  let h = Math.imul(key ^ (k >>> 0), 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h ^ Math.floor(k / 4294967296), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/** The configuration of a simulator, checked: throws `ValidationError` with the issues otherwise. */
function parseOptions(options: SimulatorOptions): z.infer<typeof optionsSchema> {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.map(String), message: i.message }));
    throw new ValidationError(
      `invalid simulator configuration: ${issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
      issues,
    );
  }
  return parsed.data;
}

export interface SimulatorSource extends DataLoggerSource {
  /** The parameter names it knows (not the event channels). */
  readonly parameters: readonly string[];
  /** The event channel names it knows. */
  readonly eventChannels: readonly string[];
}

export function createSimulatorSource(options: SimulatorOptions): SimulatorSource {
  const config = parseOptions({
    ...options,
    parameters: options.parameters ?? defaultSimulatedParameters,
    eventChannels: options.eventChannels ?? defaultSimulatedEventChannels,
  });
  const eventChannels = new Map(Object.entries(config.eventChannels ?? {}));
  const clashes = Object.keys(config.parameters ?? {}).filter((p) => eventChannels.has(p));
  if (clashes.length > 0) {
    throw new ValidationError(
      `invalid simulator configuration: ${clashes.join(', ')} named both a parameter and an event channel`,
      clashes.map((c) => ({ path: ['eventChannels', c], message: 'also a parameter' })),
    );
  }
  const rate = config.rateHz;
  const batchSize = config.batchSize;
  const seedKey = hashString(`${typeof config.seed}:${String(config.seed)}`);
  const parameters = new Map<string, Compiled>();
  for (const [name, p] of Object.entries(config.parameters ?? {})) {
    parameters.set(name, { ...p, key: (hashString(name) ^ Math.imul(seedKey, 0x27d4eb2d)) >>> 0 });
  }
  const name = `simulator (seed ${String(config.seed)}, ${rate} Hz)`;

  /** The smallest k with k / rate >= s. */
  const firstIndexAtOrAfter = (s: number): number => {
    let k = Math.ceil(s * rate);
    while ((k - 1) / rate >= s) k--;
    while (k / rate < s) k++;
    return k;
  };

  const lookUp = (parameter: string): Compiled => {
    const p = parameters.get(parameter);
    if (p === undefined) throw unknownParameter(parameter, 'the simulator');
    return p;
  };

  /** Fills `times` and `values` with samples k0 … k0 + n - 1. */
  const generate = (p: Compiled, k0: number, n: number, times: Float64Array, values: Float64Array): void => {
    const { shape, amplitude, offset, periodS, noise, nanEvery, key } = p;
    const perPeriod = rate * periodS;
    const noiseKey = (key ^ 0x5bd1e995) >>> 0;
    for (let i = 0; i < n; i++) {
      const k = k0 + i;
      times[i] = k / rate;
      if (nanEvery !== undefined && k % nanEvery === 0) {
        values[i] = Number.NaN;
        continue;
      }
      let v: number;
      if (shape === 'constant') {
        v = 1;
      } else if (shape === 'noise') {
        v = 2 * uniform(key, k) - 1;
      } else {
        const x = k / perPeriod;
        const phase = x - Math.floor(x);
        v = shape === 'sine' ? Math.sin(2 * Math.PI * phase) : shape === 'ramp' ? phase : phase < 0.5 ? 0 : 1;
      }
      values[i] = offset + amplitude * v + (noise === 0 ? 0 : noise * (2 * uniform(noiseKey, k) - 1));
    }
  };

  /** Firings of an event channel in [from, to): firing k at offsetS + k × everyS. */
  async function* fetchFirings(
    channel: { everyS: number; offsetS: number },
    fromS: number,
    toS: number,
    to: Date,
    signal?: AbortSignal,
  ): AsyncGenerator<SampleBatch> {
    const { everyS, offsetS } = channel;
    const timeOf = (k: number): number => offsetS + k * everyS;
    // The division only estimates: the float comparison with the computed times decides.
    const firstAtOrAfter = (s: number): number => {
      let k = Math.ceil((s - offsetS) / everyS);
      while (timeOf(k - 1) >= s) k--;
      while (timeOf(k) < s) k++;
      return k;
    };
    const k0 = firstAtOrAfter(fromS);
    const k1 = firstAtOrAfter(toS);
    if (k1 <= k0) {
      yield { times: new Float64Array(0), values: new Float64Array(0), through: new Date(to.getTime()) };
      return;
    }
    let batches = 0;
    for (let b = k0; b < k1; b += batchSize) {
      signal?.throwIfAborted();
      const n = Math.min(batchSize, k1 - b);
      const times = new Float64Array(n);
      for (let i = 0; i < n; i++) times[i] = timeOf(b + i);
      const through = b + n >= k1 ? to.getTime() : millisecondAtOrBefore(timeOf(b + n));
      yield { times, values: new Float64Array(n).fill(1), through: new Date(through) };
      if (++batches % 64 === 0) await yieldToEventLoop();
    }
  }

  async function* fetchSamples(
    parameter: string,
    from: Date,
    to: Date,
    signal?: AbortSignal,
  ): AsyncGenerator<SampleBatch> {
    signal?.throwIfAborted();
    const channel = eventChannels.get(parameter);
    if (channel !== undefined) {
      const { fromS, toS } = windowSeconds(parameter, from, to);
      yield* fetchFirings(channel, fromS, toS, to, signal);
      return;
    }
    const p = lookUp(parameter);
    const { fromS, toS } = windowSeconds(parameter, from, to);
    const unitsField = p.units === undefined ? {} : { units: p.units };
    const kStart = firstIndexAtOrAfter(fromS);
    const kEnd = firstIndexAtOrAfter(toS);
    // The window's indices minus the gaps', as half-open [k0, k1) runs in order.
    const gaps = p.gaps
      .map((g) => [firstIndexAtOrAfter(g.from), firstIndexAtOrAfter(g.to)] as const)
      .sort((a, b) => a[0] - b[0]);
    const runs: Array<[number, number]> = [];
    let k = kStart;
    for (const [g0, g1] of gaps) {
      if (g1 <= k) continue;
      if (g0 >= kEnd) break;
      if (g0 > k) runs.push([k, g0]);
      k = Math.max(k, g1);
    }
    if (k < kEnd) runs.push([k, kEnd]);

    if (runs.length === 0) {
      yield { times: new Float64Array(0), values: new Float64Array(0), ...unitsField, through: new Date(to.getTime()) };
      return;
    }
    let batches = 0;
    for (let r = 0; r < runs.length; r++) {
      const [k0, k1] = runs[r]!;
      for (let b = k0; b < k1; b += batchSize) {
        signal?.throwIfAborted();
        const n = Math.min(batchSize, k1 - b);
        const times = new Float64Array(n);
        const values = new Float64Array(n);
        generate(p, b, n, times, values);
        const last = r === runs.length - 1 && b + n >= k1;
        const through = last ? to.getTime() : millisecondAtOrBefore((b + n) / rate);
        yield { times, values, ...unitsField, through: new Date(through) };
        // Let timers and I/O run now and then when a consumer pulls a long window without awaiting I/O.
        if (++batches % 64 === 0) await yieldToEventLoop();
      }
    }
  }

  return {
    name,
    parameters: [...parameters.keys()],
    eventChannels: [...eventChannels.keys()],
    fetchSamples,
    describe(parameter: string): Promise<ParameterDescription> {
      if (eventChannels.has(parameter)) return Promise.resolve({ exists: true });
      const p = parameters.get(parameter);
      if (p === undefined) return Promise.resolve({ exists: false });
      return Promise.resolve(p.units === undefined ? { exists: true } : { exists: true, units: p.units });
    },
  };
}
