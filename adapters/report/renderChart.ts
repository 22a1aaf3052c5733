/**
 * Renders a Vega-Lite spec without a browser: Vega-Lite compiles it to Vega, a headless Vega view
 * (renderer 'none', no canvas package) draws it to SVG, and resvg rasterises the SVG to PNG.
 * resvg gets the DejaVu fonts of the `dejavu-fonts-ttf` package and never the machine's fonts, so
 * a plot is the same image on every machine, with or without fonts installed.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { logger as vegaLogger, parse, View, Warn } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface RenderChartOptions {
  /** PNG pixels per SVG pixel. Default 2, sharp on high-density screens. */
  readonly scale?: number;
}

export interface RenderedChart {
  readonly svg: string;
  readonly png: Buffer;
  /** Size of the PNG in pixels. */
  readonly width: number;
  readonly height: number;
  /** What Vega-Lite and Vega warned about (an unplottable field, say); the plot was drawn anyway. */
  readonly warnings: readonly string[];
}

/** The family name the bundled font files declare; specs should use it. */
export const CHART_FONT_FAMILY = 'DejaVu Sans';

let fontFiles: string[] | undefined;
const bundledFontFiles = (): string[] => {
  if (fontFiles === undefined) {
    const folder = path.join(path.dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')), 'ttf');
    fontFiles = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf', 'DejaVuSans-Oblique.ttf'].map((file) => path.join(folder, file));
  }
  return fontFiles;
};

const collectingLogger = (warnings: string[]) =>
  vegaLogger(Warn, undefined, (_method, _level, args) => {
    warnings.push(args.map((arg) => (arg instanceof Error ? arg.message : String(arg))).join(' '));
  });

/**
 * Vega numbers clip paths and gradients with counters global to the process, so the second
 * drawing of a plot would differ from the first: renumbered here in order of appearance, the
 * same statistics give the same bytes, and publishing an unchanged report makes no commit.
 */
export const stableDefIds = (svg: string): string => {
  const ids = new Map<string, string>();
  const renamed = (id: string): string => {
    let name = ids.get(id);
    if (name === undefined) {
      name = `${id.replace(/\d+$/, '')}${ids.size + 1}`;
      ids.set(id, name);
    }
    return name;
  };
  return svg.replace(
    /(id="|url\(#|href="#)((?:p_)?(?:clip|gradient_)\d+)(?=[")])/g,
    (_match, before: string, id: string) => `${before}${renamed(id)}`,
  );
};

/** The SVG of a Vega-Lite spec, drawn by a headless Vega view. */
export const renderSvg = async (spec: TopLevelSpec, warnings: string[] = []): Promise<string> => {
  const logger = collectingLogger(warnings);
  const vegaSpec = compile(spec, { logger }).spec;
  // A loader that refuses everything: plots carry their data inline, and rendering must never
  // reach for a URL or a file named in a spec.
  const view = new View(parse(vegaSpec), {
    renderer: 'none',
    logger,
    logLevel: Warn,
    loader: {
      load: () => Promise.reject(new Error('report plots load no external data')),
      sanitize: () => Promise.reject(new Error('report plots load no external data')),
      http: () => Promise.reject(new Error('report plots load no external data')),
      file: () => Promise.reject(new Error('report plots load no external data')),
    },
  });
  try {
    return stableDefIds(await view.toSVG());
  } finally {
    view.finalize();
  }
};

/** Rasterises an SVG to PNG with the bundled fonts on a white background. */
export const renderPng = (svg: string, options: RenderChartOptions = {}): { png: Buffer; width: number; height: number } => {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: options.scale ?? 2 },
    background: 'white',
    font: {
      loadSystemFonts: false,
      fontFiles: bundledFontFiles(),
      defaultFontFamily: CHART_FONT_FAMILY,
      sansSerifFamily: CHART_FONT_FAMILY,
    },
  });
  const image = resvg.render();
  return { png: image.asPng(), width: image.width, height: image.height };
};

/** A Vega-Lite spec as SVG and PNG. */
export const renderChart = async (spec: TopLevelSpec, options: RenderChartOptions = {}): Promise<RenderedChart> => {
  const warnings: string[] = [];
  const svg = await renderSvg(spec, warnings);
  return { svg, ...renderPng(svg, options), warnings };
};
