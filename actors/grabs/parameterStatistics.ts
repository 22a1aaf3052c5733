import { z } from 'zod';

/**
 * Streaming statistics of one parameter of a grab run (docs/grabs.md "Statistics", docs/formats.md).
 *
 * Rules, decided here and relied on by the grab-run actor and the statistics projection:
 *
 * - **Values.** `count`, `min`, `max`, `mean`, `std`, `mode` are over the finite samples.
 *   `nanCount` counts the samples left out: NaN, and also ±Infinity (a single infinite
 *   sample would turn mean and std into Infinity/NaN for the whole run, and the archiver
 *   uses neither as a measurement). `std` is the sample standard deviation (divisor n − 1,
 *   as pandas), null for n < 2. `mode` is the most frequent value, the smallest on a tie.
 *   −0 is taken as 0 everywhere (so they are one value for the mode, and min/max never
 *   answer −0).
 * - **Times and intervals.** Every sample has a time, whatever its value: `firstTime` and
 *   `lastTime` are the times of the first and last sample *including* NaN samples, and the
 *   intervals are between consecutive samples' times, whatever their values. Reason: the
 *   intervals describe the cadence at which the source delivered samples, and a NaN sample was
 *   delivered (it is stored with its `utc_seconds` in the HDF5 file too); dropping it would
 *   report a gap that is not in the data. So with N samples in all (`count + nanCount`) there
 *   are N − 1 intervals, and their sum is `lastTime − firstTime`. Times are finite, so
 *   `interval.nanCount` is always 0 (kept for the table's column symmetry).
 * - **Order.** Samples must come in time order (equal times are fine: a 0 interval). A time
 *   that goes backwards, or is not finite, throws a RangeError; so does merging a state that
 *   starts before this one ends. This is a precondition of the caller (the chunks of a run are
 *   in order), and breaking it silently would give negative intervals.
 *
 * Mean and variance use Welford's update per sample and Chan et al.'s pairwise combination for
 * a merge, both numerically stable (no sum of squares). Values whose magnitude exceeds ~1e150
 * can overflow the squared deviations to Infinity, as any double computation would.
 *
 * Memory: the mode is exact, so the accumulator keeps one count per distinct value: bounded by
 * the number of distinct values of one parameter in what was pushed (for a noisy float
 * parameter, about the number of samples), and likewise the distinct intervals. The JSON state
 * carries the same table, as two sorted arrays. The actor should therefore carry each chunk's
 * own state in that chunk's event (bounded by the chunk) and merge the chunks' states in order
 * when it needs the run's statistics, rather than a cumulative state in every event.
 */

/** Count, NaN count, min, max, mean, std and mode of one series; null where undefined. */
export interface SeriesStatistics {
  count: number;
  nanCount: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  /** Sample standard deviation (divisor n − 1, as pandas); null for n < 2. */
  std: number | null;
  /** Most frequent value, the smallest on a tie. */
  mode: number | null;
}

/** Statistics of the sample-to-sample intervals, in seconds; `nanCount` is always 0 (times are finite). */
export type IntervalStatistics = SeriesStatistics;

/**
 * Statistics of one parameter: over its finite samples (`nanCount` counts NaN and ±Infinity,
 * left out), plus the first and last sample time and the intervals.
 */
export interface ParameterStatistics extends SeriesStatistics {
  /** Time of the first sample, NaN samples included (seconds UTC). */
  firstTime: number | null;
  /** Time of the last sample, NaN samples included (seconds UTC). */
  lastTime: number | null;
  /** Intervals between consecutive samples' times, whatever the samples' values. */
  interval: IntervalStatistics;
}

/** A number in JSON: finite numbers as themselves, the others (and −0) as strings. */
const jsonNumberSchema = z.union([z.number(), z.enum(['NaN', 'Infinity', '-Infinity', '-0'])]);
export type JsonNumber = z.infer<typeof jsonNumberSchema>;

function encodeNumber(x: number): JsonNumber {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (Object.is(x, -0)) return '-0';
  return x;
}

function decodeNumber(x: JsonNumber): number {
  switch (x) {
    case 'NaN':
      return NaN;
    case 'Infinity':
      return Infinity;
    case '-Infinity':
      return -Infinity;
    case '-0':
      return -0;
    default:
      return x;
  }
}

const count = z.number().int().min(0);
const finite = z.number().refine(Number.isFinite, 'must be finite');

const momentsStateSchema = z.object({
  count,
  mean: jsonNumberSchema,
  /** Sum of squared deviations from the mean. */
  m2: jsonNumberSchema,
  min: finite.nullable(),
  max: finite.nullable(),
  /** Distinct values, strictly increasing (no −0). */
  modeValues: z.array(finite),
  /** How often each of `modeValues` occurred. */
  modeCounts: z.array(z.number().int().min(1)),
});
type MomentsState = z.infer<typeof momentsStateSchema>;

/** The accumulator's state as plain JSON (no NaN, no Infinity): what a chunk event carries. */
export const statisticsStateSchema = z.object({
  version: z.literal(1),
  nanCount: count,
  firstTime: finite.nullable(),
  lastTime: finite.nullable(),
  values: momentsStateSchema,
  intervals: momentsStateSchema,
});
export type StatisticsState = z.infer<typeof statisticsStateSchema>;

/**
 * How the exact mode is kept:
 * - `table`: a count per distinct value; mergeable and serialisable (`toJSON`), the default;
 * - `sorted`: every value in a growing Float64Array, sorted once when the mode is asked for;
 *   several times faster for a single streaming pass, and not serialisable;
 * - `none`: no mode (null), for partial statistics where only the moments matter.
 */
export type ModeTracking = 'table' | 'sorted' | 'none';

class Moments {
  count = 0;
  mean = 0;
  m2 = 0;
  min = Infinity;
  max = -Infinity;
  readonly frequencies = new Map<number, number>();
  private sorted = new Float64Array(0);

  constructor(readonly modeTracking: ModeTracking = 'table') {}

  /** Welford's update; `x` is finite and not −0. */
  push(x: number): void {
    this.count += 1;
    const delta = x - this.mean;
    this.mean += delta / this.count;
    this.m2 += delta * (x - this.mean);
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
    if (this.modeTracking === 'table') this.frequencies.set(x, (this.frequencies.get(x) ?? 0) + 1);
    else if (this.modeTracking === 'sorted') this.keep(x, 1);
  }

  /** Appends `x` `n` times to the sorted-mode buffer (count already includes them). */
  private keep(x: number, n: number): void {
    const used = this.count - n;
    if (this.count > this.sorted.length) {
      const grown = new Float64Array(Math.max(1_024, this.count * 2));
      grown.set(this.sorted.subarray(0, used));
      this.sorted = grown;
    }
    this.sorted.fill(x, used, this.count);
  }

  /** Chan et al.'s combination of two sets of moments (order-independent). */
  merge(other: Moments): void {
    if (other.count === 0) return;
    if (this.count === 0) {
      this.mean = other.mean;
      this.m2 = other.m2;
    } else {
      const n = this.count + other.count;
      const delta = other.mean - this.mean;
      const otherShare = other.count / n;
      this.mean += delta * otherShare;
      this.m2 += other.m2 + delta * delta * this.count * otherShare;
    }
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
    if (this.modeTracking === 'none' || other.modeTracking === 'none') {
      if (this.modeTracking !== 'none') throw new RangeError('cannot merge statistics without a mode into statistics with one');
      this.count += other.count;
      return;
    }
    for (const [value, n] of other.valueCounts()) {
      this.count += n;
      if (this.modeTracking === 'table') this.frequencies.set(value, (this.frequencies.get(value) ?? 0) + n);
      else this.keep(value, n);
    }
  }

  /** Distinct values (ascending for `sorted`) and how often each occurred. */
  private valueCounts(): Iterable<[number, number]> {
    if (this.modeTracking === 'table') return this.frequencies;
    if (this.modeTracking === 'none') throw new RangeError('this statistics state keeps no mode');
    const values = this.sorted.subarray(0, this.count).sort();
    const out: Array<[number, number]> = [];
    for (let i = 0; i < values.length; ) {
      let j = i + 1;
      while (j < values.length && values[j] === values[i]) j++;
      out.push([values[i]!, j - i]);
      i = j;
    }
    return out;
  }

  mode(): number | null {
    if (this.modeTracking === 'none') return null;
    if (this.modeTracking === 'sorted') {
      let best: number | null = null;
      let bestCount = 0;
      // Ascending, so the first of equally frequent values is the smallest.
      for (const [value, n] of this.valueCounts()) {
        if (n > bestCount) {
          best = value;
          bestCount = n;
        }
      }
      return best;
    }
    let best: number | null = null;
    let bestCount = 0;
    for (const [value, n] of this.frequencies) {
      if (n > bestCount || (n === bestCount && best !== null && value < best)) {
        best = value;
        bestCount = n;
      }
    }
    return best;
  }

  toJSON(): MomentsState {
    const counts = [...this.valueCounts()].sort((a, b) => a[0] - b[0]);
    return {
      count: this.count,
      mean: encodeNumber(this.mean),
      m2: encodeNumber(this.m2),
      min: this.count === 0 ? null : this.min,
      max: this.count === 0 ? null : this.max,
      modeValues: counts.map(([v]) => v),
      modeCounts: counts.map(([, n]) => n),
    };
  }

  static fromJSON(state: MomentsState, what: string): Moments {
    const m = new Moments();
    const fail = (why: string): never => {
      throw new RangeError(`invalid statistics state (${what}): ${why}`);
    };
    if (state.modeValues.length !== state.modeCounts.length) fail('modeValues and modeCounts differ in length');
    let total = 0;
    for (let i = 0; i < state.modeValues.length; i++) {
      const value = state.modeValues[i] as number;
      if (Object.is(value, -0)) fail('modeValues holds -0');
      if (i > 0 && !(value > (state.modeValues[i - 1] as number))) fail('modeValues not strictly increasing');
      const n = state.modeCounts[i] as number;
      m.frequencies.set(value, n);
      total += n;
    }
    if (total !== state.count) fail('modeCounts do not sum to count');
    if ((state.count === 0) !== (state.min === null) || (state.count === 0) !== (state.max === null)) {
      fail('min/max must be null exactly when count is 0');
    }
    if (state.count > 0 && (state.min !== state.modeValues[0] || state.max !== state.modeValues.at(-1))) {
      fail('min/max disagree with modeValues');
    }
    m.count = state.count;
    m.mean = decodeNumber(state.mean);
    m.m2 = decodeNumber(state.m2);
    m.min = state.min === null ? Infinity : state.min + 0;
    m.max = state.max === null ? -Infinity : state.max + 0;
    return m;
  }

}

function describe(m: Moments): Omit<IntervalStatistics, 'nanCount'> {
  if (m.count === 0) return { count: 0, min: null, max: null, mean: null, std: null, mode: null };
  return {
    count: m.count,
    min: m.min,
    max: m.max,
    mean: m.mean,
    std: m.count < 2 ? null : Math.sqrt(m.m2 / (m.count - 1)),
    mode: m.mode(),
  };
}

/** One parameter's statistics, built one sample at a time, carried as JSON, merged by chunks. */
export class StatisticsAccumulator {
  private values: Moments;
  private intervals: Moments;
  private nanCount = 0;
  private firstTime: number | null = null;
  private lastTime: number | null = null;

  /** `mode` says how the exact mode is kept (see {@link ModeTracking}); `toJSON` needs `table`. */
  constructor(options: { mode?: ModeTracking } = {}) {
    this.values = new Moments(options.mode);
    this.intervals = new Moments(options.mode);
  }

  /** Adds one sample. `value` may be NaN; `time` (seconds UTC) must be finite and not before the last one. */
  push(value: number, time: number): this {
    if (!Number.isFinite(time)) throw new RangeError(`sample time must be finite, got ${time}`);
    if (this.lastTime === null) {
      this.firstTime = time;
    } else {
      if (time < this.lastTime) throw new RangeError(`sample time ${time} is before the previous one ${this.lastTime}`);
      this.pushInterval(time - this.lastTime);
    }
    this.lastTime = time;
    if (Number.isFinite(value)) this.values.push(value + 0); // + 0 turns −0 into 0
    else this.nanCount += 1;
    return this;
  }

  /**
   * Appends the statistics of samples that follow these in time: afterwards this holds the
   * statistics of this one's samples then `other`'s, including the interval between this one's
   * last sample and `other`'s first. `other` is not changed.
   */
  merge(other: StatisticsAccumulator): this {
    if (other === this) return this.merge(other.copy());
    if (other.firstTime === null || other.lastTime === null) return this;
    if (this.lastTime === null) {
      this.firstTime = other.firstTime;
    } else {
      if (other.firstTime < this.lastTime) {
        throw new RangeError(`merged statistics start at ${other.firstTime}, before these end at ${this.lastTime}`);
      }
      this.pushInterval(other.firstTime - this.lastTime);
    }
    this.lastTime = other.lastTime;
    this.intervals.merge(other.intervals);
    this.values.merge(other.values);
    this.nanCount += other.nanCount;
    return this;
  }

  private pushInterval(interval: number): void {
    if (!Number.isFinite(interval)) throw new RangeError(`sample interval must be finite, got ${interval}`);
    this.intervals.push(interval + 0);
  }

  /** A new accumulator with the same state. */
  copy(): StatisticsAccumulator {
    return new StatisticsAccumulator({ mode: this.values.modeTracking }).merge(this);
  }

  /** The state as plain JSON (NaN, ±Infinity and −0 encoded as strings); `JSON.stringify` uses it too. */
  toJSON(): StatisticsState {
    return {
      version: 1,
      nanCount: this.nanCount,
      firstTime: this.firstTime,
      lastTime: this.lastTime,
      values: this.values.toJSON(),
      intervals: this.intervals.toJSON(),
    };
  }

  /** Restores a state written by `toJSON` (validated: a malformed state throws). */
  static fromJSON(state: unknown): StatisticsAccumulator {
    const s = statisticsStateSchema.parse(state);
    const acc = new StatisticsAccumulator();
    acc.values = Moments.fromJSON(s.values, 'values');
    acc.intervals = Moments.fromJSON(s.intervals, 'intervals');
    acc.nanCount = s.nanCount;
    const samples = s.values.count + s.nanCount;
    if ((samples === 0) !== (s.firstTime === null) || (samples === 0) !== (s.lastTime === null)) {
      throw new RangeError('invalid statistics state: firstTime/lastTime must be null exactly when there are no samples');
    }
    if (s.firstTime !== null && s.lastTime !== null && s.lastTime < s.firstTime) {
      throw new RangeError('invalid statistics state: lastTime before firstTime');
    }
    if (s.intervals.count !== Math.max(0, samples - 1)) {
      throw new RangeError('invalid statistics state: interval count must be one less than the samples');
    }
    acc.firstTime = s.firstTime;
    acc.lastTime = s.lastTime;
    return acc;
  }

  result(): ParameterStatistics {
    return {
      ...describe(this.values),
      nanCount: this.nanCount,
      firstTime: this.firstTime,
      lastTime: this.lastTime,
      interval: { ...describe(this.intervals), nanCount: 0 },
    };
  }
}

/** A new, empty accumulator. */
export function createStatisticsAccumulator(options: { mode?: ModeTracking } = {}): StatisticsAccumulator {
  return new StatisticsAccumulator(options);
}

/** Restores an accumulator from its `toJSON` state. */
export function statisticsAccumulatorFromJSON(state: unknown): StatisticsAccumulator {
  return StatisticsAccumulator.fromJSON(state);
}

/** Merges chunk states in time order into the run's statistics state. */
export function mergeStatisticsStates(states: readonly unknown[]): StatisticsAccumulator {
  const acc = createStatisticsAccumulator();
  for (const state of states) acc.merge(StatisticsAccumulator.fromJSON(state));
  return acc;
}
