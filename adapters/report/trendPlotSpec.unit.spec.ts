import fc from 'fast-check';
import { compile } from 'vega-lite';
import { describe, expect, it } from 'vitest';
import { statisticsFixture } from '../../test/fixtures/statisticsFixture.js';
import { trendPlotData, trendPlotSpec, trendPlotTitle, type TrendPoint } from './trendPlotSpec.js';

const fixture = statisticsFixture({ parameter: 'SARFE10-PBPG050:PHOTON-ENERGY', units: 'keV' });

/** The warnings Vega-Lite gives while compiling the spec. */
const compileWarnings = (spec: ReturnType<typeof trendPlotSpec>): string[] => {
  const warnings: string[] = [];
  const logger = {
    level: () => logger,
    error: (...args: unknown[]) => (warnings.push(`error ${args.join(' ')}`), logger),
    warn: (...args: unknown[]) => (warnings.push(args.join(' ')), logger),
    info: () => logger,
    debug: () => logger,
  };
  compile(spec, { logger });
  return warnings;
};

const layers = (spec: ReturnType<typeof trendPlotSpec>) => ('layer' in spec ? spec.layer : []) as unknown as {
  data: { values: Record<string, unknown>[] };
  mark: { type: string };
}[];

describe('the trend plot spec', () => {
  it('draws max, mean and min lines and the mean ± std band from the export document', () => {
    const spec = trendPlotSpec(fixture);
    const [band, lines] = layers(spec);
    expect(band?.mark.type).toBe('area');
    expect(lines?.mark.type).toBe('line');
    // 14 runs × 3 statistics, less the null min (run 5) and the NaN mean (run 10).
    expect(lines?.data.values).toHaveLength(14 * 3 - 2);
    // The band needs mean and std: run 10 has no mean.
    expect(band?.data.values).toHaveLength(13);
    expect(spec.title).toMatchObject({ text: 'SARFE10-PBPG050:PHOTON-ENERGY [keV]' });
    expect(JSON.stringify(spec.title)).toContain('14 grab runs · 2026-11-01 00:00 to 2026-11-15 00:00 UTC');
    expect(compileWarnings(spec)).toEqual([]);
  });

  it('is plain JSON: it survives a round trip unchanged', () => {
    const spec = trendPlotSpec(fixture);
    expect(JSON.parse(JSON.stringify(spec))).toEqual(spec);
  });

  it('spans the time axis over the report range only when both ends are valid', () => {
    const withRange = JSON.stringify(trendPlotSpec(fixture));
    expect(withRange).toContain(`"domain":[${Date.parse(fixture.from ?? '')},${Date.parse(fixture.to ?? '')}]`);
    expect(JSON.stringify(trendPlotSpec({ ...fixture, from: 'not a time' }))).not.toContain('"domain":[1');
    expect(JSON.stringify(trendPlotSpec({ ...fixture, from: fixture.to, to: fixture.from }))).not.toContain('"domain":[1');
  });

  it('says "no data" for an empty series instead of failing', () => {
    const spec = trendPlotSpec({ parameter: 'SIM:EMPTY', units: null, series: [] });
    expect(spec).toMatchObject({ mark: { type: 'text' }, data: { values: [{ text: 'no data' }] } });
    expect(compileWarnings(spec)).toEqual([]);
  });

  it('says "no data" when no run has a finite statistic, naming how many runs there were', () => {
    const nothing: TrendPoint[] = [
      { windowStart: '2026-11-01T00:00:00Z', min: null, max: null, mean: Number.NaN, std: null },
      { windowStart: 'garbage', min: 1, max: 2, mean: 1.5, std: 0.1 },
    ];
    const spec = trendPlotSpec({ parameter: 'SIM:NAN', series: nothing });
    expect(JSON.stringify(spec)).toContain('no data: no finite statistics in 2 grab runs');
  });

  it('orders points by time whatever order the runs come in, and leaves infinities out', () => {
    const { lines, band } = trendPlotData([
      { windowStart: new Date('2026-11-03T00:00:00Z'), min: 1, max: Infinity, mean: 2, std: 0.5 },
      { windowStart: '2026-11-01T00:00:00Z', min: 0, max: 4, mean: 2, std: null },
    ]);
    expect(lines.map((l) => `${l.time} ${l.statistic}`)).toEqual([
      '2026-11-01 00:00 max',
      '2026-11-01 00:00 mean',
      '2026-11-01 00:00 min',
      '2026-11-03 00:00 mean',
      '2026-11-03 00:00 min',
    ]);
    expect(band).toEqual([{ t: Date.parse('2026-11-03T00:00:00Z'), lower: 1.5, upper: 2.5 }]);
  });

  it('titles with units only when there are some', () => {
    expect(trendPlotTitle({ parameter: 'B:VIMIN', units: 'A' })).toBe('B:VIMIN [A]');
    expect(trendPlotTitle({ parameter: 'B:VIMIN', units: null })).toBe('B:VIMIN');
    expect(trendPlotTitle({ parameter: 'B:VIMIN', units: '' })).toBe('B:VIMIN');
  });

  it('never throws and keeps exactly the finite statistics, for any series', () => {
    const value = fc.oneof(fc.double(), fc.constant(null));
    const point = fc.record({
      windowStart: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string()),
      min: value,
      max: value,
      mean: value,
      std: value,
    });
    fc.assert(
      fc.property(fc.array(point, { maxLength: 30 }), (series) => {
        const spec = trendPlotSpec({ parameter: 'P', series });
        const timed = series.filter((p) => Number.isFinite(Date.parse(p.windowStart)));
        const finiteCount = timed.flatMap((p) => [p.min, p.max, p.mean]).filter((v) => v !== null && Number.isFinite(v)).length;
        const drawn = layers(spec)[1]?.data.values.length ?? 0;
        expect(drawn).toBe(finiteCount);
      }),
      { numRuns: 200 },
    );
  });
});

describe('the trend plot spec, as a report configures it', () => {
  const runs: TrendPoint[] = [
    { windowStart: '2026-11-01T00:00:00Z', min: -1, max: 4, mean: 2, std: 1, mode: 3 },
    { windowStart: '2026-11-02T00:00:00Z', min: 0.5, max: 5, mean: 3, std: 4, mode: 0 },
  ];

  it('draws only the statistics asked for: lines for max/mean/min/mode, the band for std', () => {
    const { lines, band } = trendPlotData(runs, ['mean', 'mode']);
    expect([...new Set(lines.map((l) => l.statistic))].sort()).toEqual(['mean', 'mode']);
    expect(lines.filter((l) => l.statistic === 'mode').map((l) => l.value)).toEqual([3, 0]);
    expect(band).toEqual([]);
    expect(trendPlotData(runs, ['std']).band.map((b) => [b.lower, b.upper])).toEqual([
      [1, 3],
      [-1, 7],
    ]);
  });

  it('a log scale leaves out what cannot be drawn on it and says so in the spec', () => {
    const { lines, band } = trendPlotData(runs, ['min', 'std'], true);
    expect(lines.map((l) => l.value)).toEqual([0.5]);
    expect(band.map((b) => b.lower)).toEqual([1]);
    const spec = JSON.stringify(trendPlotSpec({ parameter: 'P', series: runs }, { statistics: ['max'], logScale: true }));
    expect(spec).toContain('"type":"log"');
    expect(() => compile(trendPlotSpec({ parameter: 'P', series: runs }, { statistics: ['max', 'std'], logScale: true }))).not.toThrow();
  });
});
