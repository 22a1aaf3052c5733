import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createStatisticsAccumulator,
  mergeStatisticsStates,
  StatisticsAccumulator,
  statisticsAccumulatorFromJSON,
  type ParameterStatistics,
} from './parameterStatistics.js';

interface Sample {
  value: number;
  time: number;
}

// The reference the accumulator is checked against: arrays, two passes, a sort for the mode.
interface Described {
  count: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  std: number | null;
  mode: number | null;
}

function describeArray(xs: readonly number[]): Described {
  const n = xs.length;
  if (n === 0) return { count: 0, min: null, max: null, mean: null, std: null, mode: null };
  const sorted = xs.map((x) => (x === 0 ? 0 : x)).sort((a, b) => a - b);
  let sum = 0;
  for (const x of sorted) sum += x;
  const mean = sum / n;
  let squares = 0;
  for (const x of sorted) squares += (x - mean) * (x - mean);
  let mode = sorted[0] as number;
  let modeRun = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j < n && sorted[j] === sorted[i]) j++;
    if (j - i > modeRun) {
      modeRun = j - i;
      mode = sorted[i] as number;
    }
    i = j;
  }
  return {
    count: n,
    min: sorted[0] as number,
    max: sorted[n - 1] as number,
    mean,
    std: n < 2 ? null : Math.sqrt(squares / (n - 1)),
    mode,
  };
}

function reference(samples: readonly Sample[]): ParameterStatistics {
  const finite = samples.map((s) => s.value).filter((v) => Number.isFinite(v));
  const intervals: number[] = [];
  for (let i = 1; i < samples.length; i++) intervals.push((samples[i] as Sample).time - (samples[i - 1] as Sample).time);
  return {
    ...describeArray(finite),
    nanCount: samples.length - finite.length,
    firstTime: samples[0]?.time ?? null,
    lastTime: samples.at(-1)?.time ?? null,
    interval: { ...describeArray(intervals), nanCount: 0 },
  };
}

function maxAbs(xs: readonly number[]): number {
  let m = 0;
  for (const x of xs) if (Number.isFinite(x)) m = Math.max(m, Math.abs(x));
  return m;
}

// Floats are compared with a tolerance relative to the largest magnitude in the data (a mean
// near 0 of ±1e150 values is only known to about eps·1e150), with a floor for the squares of
// subnormal deviations, which underflow in any double computation.
const RELATIVE = 1e-9;
const FLOOR = 1e-150;

function expectClose(actual: number | null, expected: number | null, scale: number, label: string): void {
  if (expected === null) {
    expect(actual, label).toBeNull();
    return;
  }
  expect(actual, label).not.toBeNull();
  const error = Math.abs((actual as number) - expected);
  expect(error, `${label}: ${actual} vs ${expected}`).toBeLessThanOrEqual(RELATIVE * scale + FLOOR);
}

function expectDescribedLike(actual: Described, expected: Described, scale: number, label: string): void {
  expect(actual.count, `${label}.count`).toBe(expected.count);
  // min, max and mode are values of the data: exact (and +0, never −0).
  expect(actual.min, `${label}.min`).toBe(expected.min);
  expect(actual.max, `${label}.max`).toBe(expected.max);
  expect(actual.mode, `${label}.mode`).toBe(expected.mode);
  expectClose(actual.mean, expected.mean, scale, `${label}.mean`);
  expectClose(actual.std, expected.std, scale, `${label}.std`);
}

function expectMatchesReference(actual: ParameterStatistics, samples: readonly Sample[]): void {
  const expected = reference(samples);
  expectDescribedLike(actual, expected, maxAbs(samples.map((s) => s.value)), 'values');
  expect(actual.nanCount).toBe(expected.nanCount);
  expect(actual.firstTime).toBe(expected.firstTime);
  expect(actual.lastTime).toBe(expected.lastTime);
  const intervals = samples.slice(1).map((s, i) => s.time - (samples[i] as Sample).time);
  expectDescribedLike(actual.interval, expected.interval, maxAbs(intervals), 'interval');
  expect(actual.interval.nanCount).toBe(0);
}

function onePass(samples: readonly Sample[]): StatisticsAccumulator {
  const acc = createStatisticsAccumulator();
  for (const s of samples) acc.push(s.value, s.time);
  return acc;
}

const valueArb = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: -3, max: 3 }) }, // repeated values and ties
  { weight: 2, arbitrary: fc.constantFrom(NaN, 0, -0, Infinity, -Infinity, 0.1, 0.2, 0.30000000000000004) },
  { weight: 2, arbitrary: fc.double({ min: -1e150, max: 1e150, noNaN: true }) }, // huge, and anything
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.double({ min: 1e-120, max: 1e-100, noNaN: true }), fc.boolean())
      .map(([x, negative]) => (negative ? -x : x)), // small
  },
  { weight: 1, arbitrary: fc.double({ min: 1e12, max: 1e12 + 1e-3, noNaN: true }) }, // big offset, small spread
);

const gapArb = fc.oneof(
  fc.constantFrom(0, 0.01, 0.1, 1), // repeated intervals and ties
  fc.double({ min: 0, max: 1e4, noNaN: true }),
);

const samplesArb: fc.Arbitrary<Sample[]> = fc
  .tuple(fc.double({ min: 0, max: 2e9, noNaN: true }), fc.array(fc.tuple(valueArb, gapArb), { maxLength: 80 }))
  .map(([start, rows]) => {
    let time = start;
    return rows.map(([value, gap], i) => {
      if (i > 0) time += gap;
      return { value, time };
    });
  });

/** Samples and cut points splitting them into consecutive (possibly empty) chunks. */
const chunkedArb = samplesArb.chain((samples) =>
  fc.array(fc.nat({ max: samples.length }), { maxLength: 6 }).map((cuts) => {
    const bounds = [0, ...cuts.sort((a, b) => a - b), samples.length];
    const chunks: Sample[][] = [];
    for (let i = 1; i < bounds.length; i++) chunks.push(samples.slice(bounds[i - 1], bounds[i]));
    return { samples, chunks };
  }),
);

const RUNS = { numRuns: Number(process.env.STATS_RUNS ?? 500) };

describe('parameter statistics: hand-checked examples', () => {
  it('values [1,2,2,3,NaN] at times [0,1,2,4,5]: intervals count the NaN sample', () => {
    const r = onePass([
      { value: 1, time: 0 },
      { value: 2, time: 1 },
      { value: 2, time: 2 },
      { value: 3, time: 4 },
      { value: NaN, time: 5 },
    ]).result();
    expect(r).toEqual({
      count: 4,
      nanCount: 1,
      min: 1,
      max: 3,
      mean: 2,
      std: Math.sqrt(2 / 3),
      mode: 2,
      firstTime: 0,
      lastTime: 5,
      // intervals [1, 1, 2, 1]: mean 1.25, squared deviations 3·0.0625 + 0.5625 = 0.75, /3
      interval: { count: 4, nanCount: 0, min: 1, max: 2, mean: 1.25, std: 0.5, mode: 1 },
    });
  });

  it('no samples: counts 0, everything else null', () => {
    const nulls = { min: null, max: null, mean: null, std: null, mode: null };
    expect(createStatisticsAccumulator().result()).toEqual({
      count: 0,
      nanCount: 0,
      ...nulls,
      firstTime: null,
      lastTime: null,
      interval: { count: 0, nanCount: 0, ...nulls },
    });
  });

  it('one sample: std null, no interval', () => {
    const r = onePass([{ value: 5, time: 10 }]).result();
    expect(r).toMatchObject({ count: 1, mean: 5, std: null, mode: 5, min: 5, max: 5, firstTime: 10, lastTime: 10 });
    expect(r.interval).toMatchObject({ count: 0, mean: null, mode: null });
  });

  it('only NaN samples: no value statistics, but their times and interval', () => {
    const r = onePass([
      { value: NaN, time: 0 },
      { value: NaN, time: 3 },
    ]).result();
    expect(r).toMatchObject({ count: 0, nanCount: 2, mean: null, std: null, mode: null, firstTime: 0, lastTime: 3 });
    expect(r.interval).toMatchObject({ count: 1, mean: 3, std: null, mode: 3 });
  });

  it('±Infinity counts as NaN', () => {
    const r = onePass([1, Infinity, -Infinity, 3].map((value, time) => ({ value, time }))).result();
    expect(r).toMatchObject({ count: 2, nanCount: 2, min: 1, max: 3, mean: 2, std: Math.SQRT2 });
  });

  it('matches pandas Series.std (ddof = 1)', () => {
    // pandas.Series([1, 2, 3, 4]).std() == 1.2909944487358056
    expect(onePass([1, 2, 3, 4].map((value, time) => ({ value, time }))).result().std).toBeCloseTo(1.2909944487358056, 15);
  });

  it('mode: the smallest on a tie; −0 and 0 are one value, reported as 0', () => {
    expect(onePass([3, 1, 3, 1, 2].map((value, time) => ({ value, time }))).result().mode).toBe(1);
    // Apart, 5 (three times) would win; together, 0 and −0 occur four times.
    const r = onePass([5, 5, 5, -0, 0, 0, -0].map((value, time) => ({ value, time }))).result();
    expect(Object.is(r.mode, 0)).toBe(true);
    const tie = onePass([5, -0, 5, 0].map((value, time) => ({ value, time }))).result();
    expect(Object.is(tie.mode, 0)).toBe(true);
    expect(Object.is(tie.min, 0)).toBe(true);
    expect(onePass([{ value: -0, time: 0 }]).toJSON().values.modeValues).toEqual([0]);
  });

  it('merge adds the interval between the chunks', () => {
    const a = onePass([
      { value: 1, time: 0 },
      { value: 1, time: 1 },
    ]);
    const b = onePass([{ value: 2, time: 3 }]);
    const r = a.merge(b).result();
    expect(r.interval).toMatchObject({ count: 2, min: 1, max: 2, mean: 1.5, mode: 1 });
    expect(r).toMatchObject({ count: 3, firstTime: 0, lastTime: 3 });
    expect(b.result().count).toBe(1); // the merged one is unchanged
  });

  it('merging empty accumulators changes nothing', () => {
    const a = onePass([{ value: 1, time: 0 }]);
    const before = a.toJSON();
    a.merge(createStatisticsAccumulator());
    expect(a.toJSON()).toEqual(before);
    expect(createStatisticsAccumulator().merge(a).toJSON()).toEqual(before);
  });

  it('JSON state encodes non-finite numbers (an overflowed M2)', () => {
    const acc = onePass([
      { value: 1e200, time: 0 },
      { value: -1e200, time: 1 },
    ]);
    const state = acc.toJSON();
    expect(state.values.m2).toBe('Infinity');
    const text = JSON.stringify(acc);
    expect(text).not.toMatch(/NaN|null/);
    const back = StatisticsAccumulator.fromJSON(JSON.parse(text));
    expect(back.toJSON()).toEqual(state);
    expect(back.result().std).toBe(Infinity);
  });

  it('refuses times out of order, non-finite times, and merges that overlap', () => {
    const acc = onePass([{ value: 1, time: 5 }]);
    expect(() => acc.push(1, 4)).toThrow(RangeError);
    expect(() => acc.push(1, NaN)).toThrow(RangeError);
    expect(() => acc.push(1, Infinity)).toThrow(RangeError);
    expect(() => acc.merge(onePass([{ value: 1, time: 4.5 }]))).toThrow(RangeError);
    expect(acc.result()).toMatchObject({ count: 1, lastTime: 5 }); // unchanged by the refusals
    acc.push(2, 5); // equal times are fine: a 0 interval
    expect(acc.result().interval).toMatchObject({ count: 1, mode: 0 });
  });

  it('refuses malformed states', () => {
    const good = onePass([
      { value: 1, time: 0 },
      { value: 2, time: 1 },
    ]).toJSON();
    expect(() => StatisticsAccumulator.fromJSON({})).toThrow();
    expect(() => StatisticsAccumulator.fromJSON({ ...good, version: 2 })).toThrow();
    expect(() => StatisticsAccumulator.fromJSON({ ...good, values: { ...good.values, modeCounts: [1, 2] } })).toThrow(/sum/);
    expect(() => StatisticsAccumulator.fromJSON({ ...good, values: { ...good.values, modeValues: [2, 1] } })).toThrow();
    expect(() => StatisticsAccumulator.fromJSON({ ...good, nanCount: 1 })).toThrow(/interval count/);
    expect(() => StatisticsAccumulator.fromJSON({ ...good, firstTime: null })).toThrow();
    expect(() => StatisticsAccumulator.fromJSON({ ...good, values: { ...good.values, mean: 'nope' } })).toThrow();
    expect(statisticsAccumulatorFromJSON(good).toJSON()).toEqual(good);
  });
});

describe('parameter statistics: against a two-pass computation', () => {
  it('one pass, with the mode kept in a sorted buffer: the same as the table; without a mode: null', () => {
    fc.assert(
      fc.property(chunkedArb, ({ samples, chunks }) => {
        const sorted = createStatisticsAccumulator({ mode: 'sorted' });
        for (const s of samples) sorted.push(s.value, s.time);
        expectMatchesReference(sorted.result(), samples);
        expect(sorted.result()).toEqual(onePass(samples).result());
        // Merged by chunks, and as a JSON table, it agrees too.
        const merged = createStatisticsAccumulator({ mode: 'sorted' });
        for (const chunk of chunks) {
          const part = createStatisticsAccumulator({ mode: 'sorted' });
          for (const s of chunk) part.push(s.value, s.time);
          merged.merge(part);
        }
        const whole = onePass(samples).toJSON();
        for (const key of ['values', 'intervals'] as const) {
          const { mean: _m, m2: _m2, ...exact } = whole[key];
          expect(merged.toJSON()[key]).toMatchObject(exact);
        }
        const none = createStatisticsAccumulator({ mode: 'none' });
        for (const s of samples) none.push(s.value, s.time);
        expect(none.result()).toEqual({
          ...onePass(samples).result(),
          mode: null,
          interval: { ...onePass(samples).result().interval, mode: null },
        });
        if (none.result().count > 0 || none.result().interval.count > 0) {
          expect(() => createStatisticsAccumulator().merge(none)).toThrow(RangeError);
        }
      }),
      RUNS,
    );
  });

  it('one pass', () => {
    fc.assert(
      fc.property(samplesArb, (samples) => {
        expectMatchesReference(onePass(samples).result(), samples);
      }),
      RUNS,
    );
  });

  it('any chunking, merged in order (left to right and right to left)', () => {
    fc.assert(
      fc.property(chunkedArb, ({ samples, chunks }) => {
        const accs = chunks.map(onePass);
        const left = createStatisticsAccumulator();
        for (const acc of accs) left.merge(acc);
        expectMatchesReference(left.result(), samples);

        let right = createStatisticsAccumulator();
        for (const acc of [...accs].reverse()) right = acc.copy().merge(right);
        expectMatchesReference(right.result(), samples);

        // Counts, extremes, mode and the frequency tables agree exactly with one pass.
        const whole = onePass(samples).toJSON();
        const merged = left.toJSON();
        for (const key of ['values', 'intervals'] as const) {
          const { mean: _m, m2: _m2, ...exact } = whole[key];
          expect(merged[key]).toMatchObject(exact);
        }
        expect(merged.nanCount).toBe(whole.nanCount);
      }),
      RUNS,
    );
  });

  it('a JSON round trip between chunks (resume after a kill)', () => {
    fc.assert(
      fc.property(chunkedArb, ({ samples, chunks }) => {
        // Cumulative: restore the state written after each chunk, then go on pushing.
        let acc = createStatisticsAccumulator();
        for (const chunk of chunks) {
          const text = JSON.stringify(acc);
          expect(text).not.toMatch(/NaN|Infinity/);
          acc = StatisticsAccumulator.fromJSON(JSON.parse(text));
          for (const s of chunk) acc.push(s.value, s.time);
        }
        expectMatchesReference(acc.result(), samples);

        // Per chunk: each chunk's own state carried as JSON, merged at the end.
        const states = chunks.map((chunk) => JSON.parse(JSON.stringify(onePass(chunk))) as unknown);
        expectMatchesReference(mergeStatisticsStates(states).result(), samples);
      }),
      RUNS,
    );
  });

  it('toJSON → fromJSON → toJSON is the identity, and the state is plain JSON', () => {
    fc.assert(
      fc.property(samplesArb, (samples) => {
        const state = onePass(samples).toJSON();
        const text = JSON.stringify(state);
        expect(JSON.parse(text)).toEqual(state);
        expect(StatisticsAccumulator.fromJSON(JSON.parse(text)).toJSON()).toEqual(state);
      }),
      RUNS,
    );
  });

  it('intervals: N samples give N − 1 intervals summing to lastTime − firstTime', () => {
    fc.assert(
      fc.property(samplesArb, (samples) => {
        const r = onePass(samples).result();
        expect(r.interval.count).toBe(Math.max(0, r.count + r.nanCount - 1));
        if (r.interval.count > 0) {
          const span = (r.lastTime as number) - (r.firstTime as number);
          expectClose((r.interval.mean as number) * r.interval.count, span, Math.max(span, r.lastTime as number), 'span');
        }
      }),
      RUNS,
    );
  });
});
