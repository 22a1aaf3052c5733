import type { TopLevelSpec } from 'vega-lite';
import { renderChart, type RenderChartOptions, type RenderedChart } from './renderChart.js';
import { writeArtifact, type ReportArtifact } from './reportArtifact.js';
import { trendPlotSpec, type TrendPlotInput, type TrendPlotOptions } from './trendPlotSpec.js';

export type TrendPlotRenderOptions = TrendPlotOptions & RenderChartOptions;

export interface RenderedTrendPlot extends RenderedChart {
  readonly spec: TopLevelSpec;
}

/** A parameter's trend plot as Vega-Lite spec, SVG and PNG, in memory. */
export const renderTrendPlot = async (
  input: TrendPlotInput,
  options: TrendPlotRenderOptions = {},
): Promise<RenderedTrendPlot> => {
  const spec = trendPlotSpec(input, options);
  return { spec, ...(await renderChart(spec, options)) };
};

/** The files of one trend plot, as `writeTrendPlot` wrote them. */
export interface TrendPlotFiles {
  readonly png: ReportArtifact;
  readonly svg: ReportArtifact;
  /** The Vega-Lite spec with its data, for interactive viewing (vega-embed). */
  readonly spec: ReportArtifact;
}

/**
 * Renders a parameter's trend plot and writes `<basePath>.png`, `.svg` and `.vl.json` under
 * `root` (`basePath` relative to it, e.g. from `plotBasePath`), each atomically. The PNG comes
 * last, so a page that finds the PNG finds its SVG and spec too.
 */
export const writeTrendPlot = async (
  root: string,
  basePath: string,
  input: TrendPlotInput,
  options: TrendPlotRenderOptions = {},
): Promise<TrendPlotFiles> => {
  const plot = await renderTrendPlot(input, options);
  const spec = await writeArtifact(root, `${basePath}.vl.json`, `${JSON.stringify(plot.spec, null, 1)}\n`);
  const svg = await writeArtifact(root, `${basePath}.svg`, plot.svg);
  const png = await writeArtifact(root, `${basePath}.png`, plot.png);
  return { png, svg, spec };
};
