/**
 * Checks of a report as people get it, for the report specs: PNG and SVG files read as a decoder
 * and an XML parser read them, and the HTML site's links followed page by page. Throwing
 * functions (no vitest here), so a failure names the file and what is wrong with it.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { crc32, inflateSync } from 'node:zlib';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { Parser } from 'htmlparser2';
import type { Kysely } from 'kysely';
import { statisticsFixture, type StatisticsFixtureOptions } from '../fixtures/statisticsFixture.js';
import type { Database } from '../../projections/database.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * A PNG a decoder accepts: signature, chunks with valid CRCs, IHDR first (8-bit, a known colour
 * type), IEND last, image data inflating to one filter byte plus a row of pixels per line.
 */
export const checkPng = (file: string): { width: number; height: number } => {
  const png = readFileSync(file);
  const bad = (why: string): never => {
    throw new Error(`${file} is not a valid PNG: ${why}`);
  };
  if (png.length < 8 + 25 || !png.subarray(0, 8).equals(PNG_SIGNATURE)) bad('no PNG signature');
  const chunks: { type: string; data: Buffer }[] = [];
  for (let at = 8; at < png.length; ) {
    if (at + 12 > png.length) bad(`a chunk is cut short at byte ${at}`);
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    if (at + 12 + length > png.length) bad(`chunk ${type} is cut short`);
    const data = png.subarray(at + 8, at + 8 + length);
    if (crc32(png.subarray(at + 4, at + 8 + length)) >>> 0 !== png.readUInt32BE(at + 8 + length)) bad(`chunk ${type} has a wrong CRC`);
    chunks.push({ type, data });
    at += 12 + length;
  }
  const ihdr = chunks[0];
  if (ihdr?.type !== 'IHDR' || ihdr.data.length !== 13) bad(`the first chunk is ${ihdr?.type ?? 'missing'}, not a 13-byte IHDR`);
  if (chunks.at(-1)?.type !== 'IEND') bad('the last chunk is not IEND');
  const data = ihdr?.data ?? Buffer.alloc(13);
  const width = data.readUInt32BE(0);
  const height = data.readUInt32BE(4);
  const channels = ({ 0: 1, 2: 3, 4: 2, 6: 4 } as Record<number, number>)[data[9] ?? -1];
  if (width === 0 || height === 0) bad(`IHDR says ${width}x${height}`);
  if (data[8] !== 8 || channels === undefined) bad(`IHDR bit depth ${data[8]} colour type ${data[9]}`);
  const pixels = inflateSync(Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data)));
  if (pixels.length !== height * (1 + width * (channels ?? 0))) bad(`IDAT inflates to ${pixels.length} bytes for ${width}x${height}`);
  return { width, height };
};

/** An SVG an XML parser accepts, whose root element is `<svg>` with a size. */
export const checkSvg = (file: string): { width: number; height: number; texts: string[] } => {
  const text = readFileSync(file, 'utf8');
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw new Error(`${file} is not well-formed XML: ${JSON.stringify(valid.err)}`);
  const tree = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(text) as Record<string, unknown>;
  const svg = tree.svg as Record<string, unknown> | undefined;
  if (!svg) throw new Error(`${file}: the root element is not <svg> (${Object.keys(tree).join(', ')})`);
  const width = Number(svg.width);
  const height = Number(svg.height);
  if (!(width > 0 && height > 0)) throw new Error(`${file}: <svg> has no size (${String(svg.width)}x${String(svg.height)})`);
  const texts: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'text' || key === '#text') texts.push(...[value].flat().map((v) => (typeof v === 'object' && v ? String((v as Record<string, unknown>)['#text'] ?? '') : String(v))));
        walk(value);
      }
    }
  };
  walk(svg);
  return { width, height, texts };
};

export interface HtmlPage {
  readonly file: string;
  /** Every href, resolved to a file (anchors and external links left out). */
  readonly links: string[];
  /** Every img src, resolved to a file. */
  readonly images: string[];
  /** The page's text, entities decoded. */
  readonly text: string;
}

const isExternal = (url: string): boolean => /^[a-z][a-z0-9+.-]*:/i.test(url) || url.startsWith('//') || url.startsWith('#');

/** A page read by a real HTML parser, its links resolved against its folder. */
export const readHtmlPage = (file: string): HtmlPage => {
  const links: string[] = [];
  const images: string[] = [];
  let text = '';
  const resolveUrl = (url: string): string => path.resolve(path.dirname(file), decodeURIComponent(url.split('#')[0] ?? ''));
  const parser = new Parser(
    {
      onopentag: (name, attrs) => {
        if (attrs.href !== undefined && !isExternal(attrs.href)) links.push(resolveUrl(attrs.href));
        if (name === 'img' && attrs.src !== undefined && !isExternal(attrs.src)) images.push(resolveUrl(attrs.src));
      },
      ontext: (t) => {
        text += t;
      },
    },
    { decodeEntities: true },
  );
  parser.write(readFileSync(file, 'utf8'));
  parser.end();
  return { file, links, images, text };
};

/** Every file below `dir`, as absolute paths, sorted. */
export const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.join(d.parentPath, d.name))
    .sort();

export interface CheckedSite {
  readonly index: HtmlPage;
  /** The instrument pages, by their folder name. */
  readonly pages: ReadonlyMap<string, HtmlPage>;
  readonly pngs: readonly string[];
  readonly svgs: readonly string[];
}

/**
 * A report folder as a reader follows it: `index.html` links every instrument page there is
 * (`<instrument>/index.html`); every link and image of every page points at a file that exists;
 * every PNG and SVG in the folder is valid and shown (PNG) or linked (SVG) by its instrument's page.
 */
export const checkReportSite = (dir: string): CheckedSite => {
  const indexFile = path.join(dir, 'index.html');
  if (!existsSync(indexFile)) throw new Error(`${dir} has no index.html: ${filesUnder(dir).join(', ')}`);
  const index = readHtmlPage(indexFile);
  const files = filesUnder(dir);
  const pageFiles = files.filter((f) => f !== indexFile && f.endsWith('.html'));
  if (pageFiles.length === 0) throw new Error(`${dir} has no instrument page`);
  const pages = new Map<string, HtmlPage>();
  for (const pageFile of pageFiles) {
    if (path.basename(pageFile) !== 'index.html' || path.dirname(path.dirname(pageFile)) !== dir) {
      throw new Error(`${pageFile}: an HTML file where no page belongs`);
    }
    if (!index.links.includes(pageFile)) throw new Error(`index.html does not link ${path.relative(dir, pageFile)}`);
    pages.set(path.basename(path.dirname(pageFile)), readHtmlPage(pageFile));
  }
  for (const page of [index, ...pages.values()]) {
    for (const target of [...page.links, ...page.images]) {
      if (!existsSync(target) || !statSync(target).isFile()) {
        throw new Error(`${path.relative(dir, page.file)} links ${path.relative(dir, target)}, which does not exist`);
      }
      if (!target.startsWith(`${dir}/`)) throw new Error(`${path.relative(dir, page.file)} links ${target}, outside the report`);
    }
  }
  const pngs = files.filter((f) => f.endsWith('.png'));
  const svgs = files.filter((f) => f.endsWith('.svg'));
  for (const png of pngs) checkPng(png);
  for (const svg of svgs) checkSvg(svg);
  for (const plot of [...pngs, ...svgs]) {
    const instrument = path.relative(dir, plot).split(path.sep)[0] ?? '';
    const page = pages.get(instrument);
    if (!page) throw new Error(`${path.relative(dir, plot)} belongs to no instrument page`);
    const shown = plot.endsWith('.png') ? page.images.includes(plot) : page.links.includes(plot);
    if (!shown) throw new Error(`${path.relative(dir, page.file)} does not ${plot.endsWith('.png') ? 'show' : 'link'} ${path.relative(dir, plot)}`);
  }
  return { index, pages, pngs, svgs };
};

/**
 * Inserts a parameter's fixture statistics (daily runs, as `statisticsFixture` makes them) into
 * `grab_statistics`, as the projection would have written them from grab runs.
 */
export const insertFixtureStatistics = async (db: Kysely<Database>, options: StatisticsFixtureOptions): Promise<number> => {
  const fixture = statisticsFixture(options);
  const rows = fixture.series.map((p, i) => ({
    run_id: `${p.runId}-${options.parameter}-${p.windowStart}`,
    parameter: fixture.parameter,
    units: p.units,
    window_start: p.windowStart,
    window_stop: p.windowStop,
    output_file: p.outputFile,
    count: p.count,
    nan_count: p.nanCount,
    min: p.min,
    max: p.max,
    mean: p.mean,
    std: p.std,
    mode: p.mode,
    first_time: p.firstTime,
    last_time: p.lastTime,
    interval_count: p.interval.count,
    interval_nan_count: p.interval.nanCount,
    interval_min: p.interval.min,
    interval_max: p.interval.max,
    interval_mean: p.interval.mean,
    interval_std: p.interval.std,
    interval_mode: p.interval.mode,
    recorded_at: p.windowStop,
    position: i + 1,
  }));
  if (rows.length > 0) await db.insertInto('grab_statistics').values(rows).execute();
  return rows.length;
};
