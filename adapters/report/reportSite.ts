/**
 * The HTML report: `index.html` linking one page per instrument, each page a section per detector
 * or parameter group with its plots. Static files with relative links only, so the folder reads
 * the same from disk, a web server or a git host's pages. Every name is escaped: names come from
 * configurations and data loggers.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { ValidationError } from '../../events/errors.js';
import { resolveInside, writeArtifact, type ReportArtifact } from './reportArtifact.js';
import { instrumentPagePath, REPORT_INDEX, slugOf } from './reportPaths.js';
import { trendPlotTitle } from './trendPlotSpec.js';

/** One plot of a group: files relative to the report folder, as `writeTrendPlot` wrote them. */
export interface ReportPlot {
  readonly parameter: string;
  readonly units?: string | null;
  readonly png?: string;
  readonly svg?: string;
  /** The Vega-Lite spec (`.vl.json`). */
  readonly spec?: string;
  /** Shown under the plot, or in its place when it was not produced (a failed job, say). */
  readonly note?: string;
}

/** A detector or parameter group: one section of an instrument's page. */
export interface ReportGroup {
  readonly name: string;
  readonly plots: readonly ReportPlot[];
  readonly note?: string;
}

export interface ReportInstrument {
  readonly name: string;
  /** The date range the plots cover. */
  readonly from: string | Date;
  readonly to: string | Date;
  readonly groups: readonly ReportGroup[];
}

export interface ReportSite {
  readonly title: string;
  /** Passed in rather than read from the clock, so a rebuild from the same run is the same file. */
  readonly generatedAt: string | Date;
  readonly instruments: readonly ReportInstrument[];
}

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

/** A link from the page at `fromPage` to `target`, both relative to the report folder. */
const hrefFrom = (fromPage: string, target: string): string =>
  path.posix
    .relative(path.posix.dirname(fromPage), target)
    .split('/')
    .map((segment) => (segment === '..' ? segment : encodeURIComponent(segment)))
    .join('/');

const timeText = (value: string | Date): string => {
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  if (!Number.isFinite(ms)) return String(value);
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
};

const STYLE = `body{font-family:"DejaVu Sans",Verdana,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
h1{margin-bottom:.2em}.meta{color:#555;margin-top:0}figure{margin:1.5em 0}img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{color:#444}.missing{color:#a33}table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}`;

const page = (title: string, body: string): string => `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
</body>
</html>
`;

const exists = async (root: string, relativePath: string | undefined): Promise<string | undefined> => {
  if (relativePath === undefined) return undefined;
  try {
    return (await stat(resolveInside(root, relativePath))).isFile() ? relativePath : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
};

interface PlotOnDisk extends ReportPlot {
  readonly pngFound?: string;
  readonly svgFound?: string;
  readonly specFound?: string;
}

const plotHtml = (pagePath: string, plot: PlotOnDisk): string => {
  const title = escapeHtml(trendPlotTitle(plot));
  const link = (target: string, text: string) => `<a href="${escapeHtml(hrefFrom(pagePath, target))}">${text}</a>`;
  const links = [
    ...(plot.svgFound ? [link(plot.svgFound, 'SVG')] : []),
    ...(plot.specFound ? [link(plot.specFound, 'Vega-Lite spec')] : []),
  ];
  const note = plot.note ? ` <span class="note">${escapeHtml(plot.note)}</span>` : '';
  // An SVG-only report (plot.formats: [svg]) shows the SVG itself.
  const shown = plot.pngFound ?? plot.svgFound;
  if (!shown) {
    return `<figure><p class="missing">${title}: plot not produced.${note}</p>${links.length ? `<figcaption>${links.join(' · ')}</figcaption>` : ''}</figure>`;
  }
  const img = `<img src="${escapeHtml(hrefFrom(pagePath, shown))}" alt="trend plot of ${title}" loading="lazy">`;
  const picture = plot.svgFound && plot.pngFound ? link(plot.svgFound, img) : img;
  return `<figure>${picture}<figcaption>${[title, ...links].join(' · ')}${note}</figcaption></figure>`;
};

const instrumentHtml = (
  site: ReportSite,
  instrument: ReportInstrument,
  groups: readonly (ReportGroup & { plots: readonly PlotOnDisk[] })[],
): string => {
  const pagePath = instrumentPagePath(instrument.name);
  const ids = new Map<string, number>();
  const sections = groups.map((group) => {
    // Two groups of one name still get distinct anchors.
    const base = `group-${slugOf(group.name)}`;
    const seen = ids.get(base) ?? 0;
    ids.set(base, seen + 1);
    const id = seen === 0 ? base : `${base}-${seen + 1}`;
    const note = group.note ? `<p class="note">${escapeHtml(group.note)}</p>` : '';
    const plots = group.plots.length ? group.plots.map((plot) => plotHtml(pagePath, plot)).join('\n') : '<p>No plots configured.</p>';
    return { id, name: group.name, html: `<section id="${escapeHtml(id)}">\n<h2>${escapeHtml(group.name)}</h2>\n${note}${plots}\n</section>` };
  });
  const toc = sections.length
    ? `<ul>${sections.map((s) => `<li><a href="#${escapeHtml(s.id)}">${escapeHtml(s.name)}</a></li>`).join('')}</ul>`
    : '<p>No detectors or parameter groups configured.</p>';
  return page(
    `${instrument.name}: ${site.title}`,
    `<p><a href="${escapeHtml(hrefFrom(pagePath, REPORT_INDEX))}">${escapeHtml(site.title)}</a></p>
<h1>${escapeHtml(instrument.name)}</h1>
<p class="meta">${escapeHtml(timeText(instrument.from))} to ${escapeHtml(timeText(instrument.to))} · generated ${escapeHtml(timeText(site.generatedAt))}</p>
${toc}
${sections.map((s) => s.html).join('\n')}`,
  );
};

const indexHtml = (
  site: ReportSite,
  rows: readonly { instrument: ReportInstrument; produced: number; total: number }[],
): string => {
  const body = rows.length
    ? `<table>
<thead><tr><th>instrument</th><th>from</th><th>to</th><th>plots</th></tr></thead>
<tbody>
${rows
  .map(
    ({ instrument, produced, total }) =>
      `<tr><td><a href="${escapeHtml(hrefFrom(REPORT_INDEX, instrumentPagePath(instrument.name)))}">${escapeHtml(instrument.name)}</a></td>` +
      `<td>${escapeHtml(timeText(instrument.from))}</td><td>${escapeHtml(timeText(instrument.to))}</td>` +
      `<td>${produced} of ${total}</td></tr>`,
  )
  .join('\n')}
</tbody>
</table>`
    : '<p>No instruments in this report.</p>';
  return page(site.title, `<h1>${escapeHtml(site.title)}</h1>\n<p class="meta">generated ${escapeHtml(timeText(site.generatedAt))}</p>\n${body}`);
};

/**
 * Writes `index.html` and one `<instrument>/index.html` per instrument under `root`, and returns
 * them as artifacts (pages first, the index last). Plot files must already be there: a plot
 * whose PNG is missing is shown as not produced, and a link is made only to a file that exists.
 */
export const writeReportSite = async (root: string, site: ReportSite): Promise<ReportArtifact[]> => {
  const pages = new Map<string, string>();
  for (const instrument of site.instruments) {
    const pagePath = instrumentPagePath(instrument.name);
    const other = pages.get(pagePath);
    if (other !== undefined) {
      throw new ValidationError(`instruments ${JSON.stringify(other)} and ${JSON.stringify(instrument.name)} would share the page ${pagePath}`);
    }
    pages.set(pagePath, instrument.name);
  }

  const artifacts: ReportArtifact[] = [];
  const rows: { instrument: ReportInstrument; produced: number; total: number }[] = [];
  for (const instrument of site.instruments) {
    const groups = await Promise.all(
      instrument.groups.map(async (group) => ({
        ...group,
        plots: await Promise.all(
          group.plots.map(async (plot): Promise<PlotOnDisk> => {
            const [pngFound, svgFound, specFound] = await Promise.all([
              exists(root, plot.png),
              exists(root, plot.svg),
              exists(root, plot.spec),
            ]);
            return {
              ...plot,
              ...(pngFound === undefined ? {} : { pngFound }),
              ...(svgFound === undefined ? {} : { svgFound }),
              ...(specFound === undefined ? {} : { specFound }),
            };
          }),
        ),
      })),
    );
    const plots = groups.flatMap((g) => g.plots);
    rows.push({ instrument, produced: plots.filter((p) => p.pngFound).length, total: plots.length });
    artifacts.push(await writeArtifact(root, instrumentPagePath(instrument.name), instrumentHtml(site, instrument, groups)));
  }
  // The index last: whoever sees it finds every page it links.
  artifacts.push(await writeArtifact(root, REPORT_INDEX, indexHtml(site, rows)));
  return artifacts;
};
