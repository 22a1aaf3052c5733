/**
 * The trend plot of one parameter as a Vega-Lite spec: per grab run, max, mean and min as lines
 * with points, and the mean ± std band behind them, over the runs' window start (UTC). Pure: no
 * I/O, no clock, so the same statistics give the same spec, which is also written beside the
 * plot for interactive viewing (vega-embed renders it unchanged).
 */
import type { TopLevelSpec } from 'vega-lite';

/** One grab run's statistics of the parameter; `StatisticsPoint` of the JSON export fits. */
export interface TrendPoint {
  readonly windowStart: string | Date;
  readonly windowStop?: string | Date;
  readonly count?: number;
  readonly nanCount?: number;
  readonly min: number | null;
  readonly max: number | null;
  readonly mean: number | null;
  readonly std: number | null;
  readonly mode?: number | null;
}

/** A parameter's statistics over time; `ParameterStatisticsExport` of the JSON export fits. */
export interface TrendPlotInput {
  readonly parameter: string;
  readonly units?: string | null;
  readonly series: readonly TrendPoint[];
  /** The report's date range: the time axis spans it when both are given. */
  readonly from?: string | Date | null;
  readonly to?: string | Date | null;
}

export interface TrendPlotOptions {
  /** Plot area size in CSS pixels (the image adds axes, title and legend). Default 720 × 260. */
  readonly width?: number;
  readonly height?: number;
  /** Default `DejaVu Sans`, the font `renderChart` bundles. */
  readonly fontFamily?: string;
  /**
   * What to draw (a report's `plot.statistics`): `max`, `mean`, `min`, `mode` as lines, `std` as the
   * mean ± std band. Default max, mean, std, min. `count` and `nanCount` are in every tooltip.
   */
  readonly statistics?: readonly string[];
  /** A logarithmic value axis (values at or below zero are left out). Default linear. */
  readonly logScale?: boolean;
}

/** Legend names of the series, in legend order. */
export const TREND_SERIES = ['max', 'mean', 'min', 'mode', 'mean ± std'] as const;
const COLORS = ['#d62728', '#1f4e79', '#2ca02c', '#9467bd', '#9ecae1'];
const DEFAULT_STATISTICS = ['max', 'mean', 'std', 'min'];
/** Above this many runs the lines are drawn without a point per run. */
export const MAX_RUNS_WITH_POINTS = 120;

const finite = (value: number | null | undefined): value is number =>
  typeof value === 'number' && Number.isFinite(value);

const timeOf = (value: string | Date | null | undefined): number | undefined => {
  if (value === null || value === undefined) return undefined;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
};

const isoDate = (ms: number): string => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');

/** The plot's title: the parameter, and its units in brackets when known. */
export const trendPlotTitle = (input: Pick<TrendPlotInput, 'parameter' | 'units'>): string =>
  input.units ? `${input.parameter} [${input.units}]` : input.parameter;

interface LinePoint {
  readonly t: number;
  /** `t` as text for the tooltip, which would otherwise show local time. */
  readonly time: string;
  readonly statistic: string;
  readonly value: number;
  readonly count: number | null;
  readonly nanCount: number | null;
}

interface BandPoint {
  readonly t: number;
  readonly lower: number;
  readonly upper: number;
}

/** The rows the plot draws: runs without a time and statistics that are null or NaN are left out. */
export const trendPlotData = (
  series: readonly TrendPoint[],
  statistics: readonly string[] = DEFAULT_STATISTICS,
  logScale = false,
): { lines: LinePoint[]; band: BandPoint[] } => {
  const lines: LinePoint[] = [];
  const band: BandPoint[] = [];
  const drawn = (['max', 'mean', 'min', 'mode'] as const).filter((s) => statistics.includes(s));
  const plottable = (v: number | null | undefined): v is number => finite(v) && (!logScale || v > 0);
  for (const point of series) {
    const t = timeOf(point.windowStart);
    if (t === undefined) continue;
    const count = finite(point.count) ? point.count : null;
    const nanCount = finite(point.nanCount) ? point.nanCount : null;
    for (const statistic of drawn) {
      const value = point[statistic];
      if (plottable(value)) lines.push({ t, time: isoDate(t), statistic, value, count, nanCount });
    }
    if (statistics.includes('std') && finite(point.mean) && finite(point.std)) {
      const lower = point.mean - point.std;
      const upper = point.mean + point.std;
      // Near the limits of a double the sum overflows, and JSON would turn Infinity into null.
      if (plottable(lower) && plottable(upper)) band.push({ t, lower, upper });
    }
  }
  // Lines join points in data order; runs may come in any order.
  lines.sort((a, b) => a.t - b.t);
  band.sort((a, b) => a.t - b.t);
  return { lines, band };
};

/** The Vega-Lite spec of a parameter's trend plot; a "no data" plot when nothing is plottable. */
export const trendPlotSpec = (input: TrendPlotInput, options: TrendPlotOptions = {}): TopLevelSpec => {
  const width = options.width ?? 720;
  const height = options.height ?? 260;
  const font = options.fontFamily ?? 'DejaVu Sans';
  const { lines, band } = trendPlotData(input.series, options.statistics, options.logScale);
  const from = timeOf(input.from);
  const to = timeOf(input.to);
  const range = from !== undefined && to !== undefined && from < to ? { from, to } : undefined;
  const runs = input.series.length;
  const subtitle = [
    `${runs} grab run${runs === 1 ? '' : 's'}`,
    ...(range ? [`${isoDate(range.from)} to ${isoDate(range.to)} UTC`] : []),
  ].join(' · ');
  const common = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: trendPlotTitle(input), subtitle, anchor: 'start' as const },
    width,
    height,
    background: 'white',
    config: { font, view: { stroke: '#ccc' } },
  };

  if (lines.length === 0) {
    const text = runs === 0 ? 'no data' : `no data: no finite statistics in ${subtitle}`;
    return {
      ...common,
      data: { values: [{ text }] },
      mark: { type: 'text', fontSize: 16, color: '#666' },
      encoding: { text: { field: 'text' }, x: { value: width / 2 }, y: { value: height / 2 } },
    };
  }

  const x = {
    field: 't',
    type: 'temporal' as const,
    title: 'grab window start (UTC)',
    scale: { type: 'utc' as const, ...(range ? { domain: [range.from, range.to] } : {}) },
    axis: { labelOverlap: true, grid: true },
  };
  const color = {
    scale: { domain: [...TREND_SERIES], range: COLORS },
    legend: { title: null, orient: 'top' as const, direction: 'horizontal' as const },
  };
  return {
    ...common,
    layer: [
      {
        data: { values: band },
        mark: { type: 'area', opacity: 0.45, clip: true },
        encoding: {
          x,
          y: { field: 'lower', type: 'quantitative' },
          y2: { field: 'upper' },
          color: { ...color, datum: 'mean ± std' },
        },
      },
      {
        data: { values: lines },
        // Points show which runs exist, until they are so many that they hide the lines.
        mark: { type: 'line', point: input.series.length <= MAX_RUNS_WITH_POINTS, strokeWidth: 1.5, clip: true },
        encoding: {
          x,
          y: {
            field: 'value',
            type: 'quantitative',
            // The parameter is in the title already; a long name would squeeze the plot.
            title: input.units ? input.units : 'value',
            scale: options.logScale ? { type: 'log' as const } : { zero: false },
          },
          color: { ...color, field: 'statistic', type: 'nominal' },
          tooltip: [
            { field: 'time', type: 'nominal', title: 'window start (UTC)' },
            { field: 'statistic', type: 'nominal' },
            { field: 'value', type: 'quantitative', format: '.6~g' },
            { field: 'count', type: 'quantitative', title: 'samples' },
            { field: 'nanCount', type: 'quantitative', title: 'NaN samples' },
          ],
        },
      },
    ],
  };
};
