import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, inflateSync } from 'node:zlib';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { afterAll, describe, expect, it } from 'vitest';
import { statisticsFixture } from '../../test/fixtures/statisticsFixture.js';
import { renderTrendPlot, writeTrendPlot } from './trendPlot.js';

const root = mkdtempSync(join(tmpdir(), 'daqflow-trendplot-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const fixture = statisticsFixture({ parameter: 'SARFE10-PBPG050:PHOTON-ENERGY', units: 'keV' });

/**
 * Reads a PNG the way a decoder must: signature, chunks with valid CRCs, IHDR first, IEND last,
 * and image data that inflates to exactly one filter byte plus one row of pixels per line.
 */
const readPng = (png: Buffer): { width: number; height: number; colorType: number } => {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  const chunks: { type: string; data: Buffer }[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    expect(crc32(png.subarray(at + 4, at + 8 + length)) >>> 0).toBe(png.readUInt32BE(at + 8 + length));
    chunks.push({ type, data });
    at += 12 + length;
  }
  expect(chunks[0]?.type).toBe('IHDR');
  expect(chunks.at(-1)?.type).toBe('IEND');
  const ihdr = chunks[0]?.data ?? Buffer.alloc(13);
  const width = ihdr.readUInt32BE(0);
  const height = ihdr.readUInt32BE(4);
  const bitDepth = ihdr[8] ?? 0;
  const colorType = ihdr[9] ?? 0;
  const channels = ({ 0: 1, 2: 3, 4: 2, 6: 4 } as Record<number, number>)[colorType];
  expect(bitDepth).toBe(8);
  expect(channels).toBeDefined();
  const pixels = inflateSync(Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data)));
  expect(pixels.length).toBe(height * (1 + width * (channels ?? 0)));
  return { width, height, colorType };
};

type XmlNode = { [tag: string]: XmlNode[] | string | Record<string, string> | undefined; ':@'?: Record<string, string> };

/** Every element of a parsed SVG as tag, attributes and its own text. */
const elements = (svg: string): { tag: string; attrs: Record<string, string>; text: string }[] => {
  expect(XMLValidator.validate(svg)).toBe(true);
  const tree = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', preserveOrder: true }).parse(svg) as XmlNode[];
  const out: { tag: string; attrs: Record<string, string>; text: string }[] = [];
  const walk = (nodes: XmlNode[]): void => {
    for (const node of nodes) {
      const tag = Object.keys(node).find((k) => k !== ':@');
      if (tag === undefined || tag === '#text') continue;
      const children = (node[tag] ?? []) as XmlNode[];
      const text = children.map((c) => c['#text']).filter((t) => t !== undefined).join('');
      out.push({ tag, attrs: node[':@'] ?? {}, text: String(text) });
      walk(children);
    }
  };
  walk(tree);
  return out;
};

describe('rendering trend plots', () => {
  it('renders fixture statistics to a valid PNG and an SVG that holds every series', async () => {
    const started = performance.now();
    const plot = await renderTrendPlot(fixture);
    const ms = performance.now() - started;

    const png = readPng(plot.png);
    const svgElements = elements(plot.svg);
    const svgRoot = svgElements[0];
    expect(svgRoot?.tag).toBe('svg');
    // The PNG is the SVG at the default scale of 2.
    expect(png.width).toBe(Math.round(Number(svgRoot?.attrs.width) * 2));
    expect(png.height).toBe(Math.round(Number(svgRoot?.attrs.height) * 2));
    expect({ width: plot.width, height: plot.height }).toEqual({ width: png.width, height: png.height });
    expect(png.width).toBeGreaterThan(1400);
    // A plot with text, lines and a band; a blank image of that size compresses to a few kB.
    expect(plot.png.length).toBeGreaterThan(40_000);

    const texts = svgElements.map((e) => e.text);
    expect(texts).toContain('SARFE10-PBPG050:PHOTON-ENERGY [keV]');
    for (const name of ['max', 'mean', 'min', 'mean ± std']) expect(texts).toContain(name);
    // One line per statistic, one band, and a point per finite value (less run 5's min, run 10's mean).
    const lineGroups = svgElements.filter((e) => e.tag === 'g' && e.attrs.class?.startsWith('mark-line role-mark'));
    expect(lineGroups).toHaveLength(3);
    expect(svgElements.filter((e) => e.tag === 'g' && e.attrs.class?.startsWith('mark-area role-mark'))).toHaveLength(1);
    const points = svgElements.filter((e) => e.tag === 'path' && e.attrs['aria-roledescription'] === 'point');
    const countOf = (s: string) => points.filter((p) => p.attrs['aria-label']?.includes(`statistic: ${s};`)).length;
    expect([countOf('max'), countOf('mean'), countOf('min')]).toEqual([14, 13, 13]);
    expect(plot.warnings).toEqual([]);
    console.info(`trend plot: ${ms.toFixed(0)} ms, PNG ${plot.png.length} B ${png.width}x${png.height}, SVG ${plot.svg.length} B`);
  });

  it('renders an empty series to a plot that says "no data"', async () => {
    const plot = await renderTrendPlot({ parameter: 'SIM:EMPTY', units: null, series: [] });
    readPng(plot.png);
    const texts = elements(plot.svg).map((e) => e.text);
    expect(texts).toContain('no data');
    expect(texts).toContain('SIM:EMPTY');
  });

  it('renders a series whose statistics are all NaN or null to a "no data" plot', async () => {
    const series = fixture.series.map((p) => ({ ...p, min: null, max: Number.NaN, mean: null, std: Number.NaN }));
    const plot = await renderTrendPlot({ ...fixture, series });
    readPng(plot.png);
    expect(elements(plot.svg).some((e) => e.text.startsWith('no data: no finite statistics in 14 grab runs'))).toBe(true);
  });

  it('renders the same image for the same statistics', async () => {
    const [a, b] = [await renderTrendPlot(fixture), await renderTrendPlot(fixture)];
    expect(a.svg).toBe(b.svg);
    expect(createHash('sha256').update(a.png).digest('hex')).toBe(createHash('sha256').update(b.png).digest('hex'));
  });

  it('escapes names in the SVG', async () => {
    const plot = await renderTrendPlot({ ...fixture, parameter: 'A<&>"B', units: "'u'" });
    expect(elements(plot.svg).map((e) => e.text)).toContain(`A<&>"B ['u']`);
  });

  it('writes PNG, SVG and spec under the report folder and describes them', async () => {
    const files = await writeTrendPlot(root, 'SPB/plots/AGIPD/energy', fixture, { scale: 1 });
    expect([files.png.relativePath, files.svg.relativePath, files.spec.relativePath]).toEqual([
      'SPB/plots/AGIPD/energy.png',
      'SPB/plots/AGIPD/energy.svg',
      'SPB/plots/AGIPD/energy.vl.json',
    ]);
    for (const artifact of [files.png, files.svg, files.spec]) {
      const content = readFileSync(artifact.path);
      expect(artifact.bytes).toBe(content.length);
      expect(artifact.sha256).toBe(createHash('sha256').update(content).digest('hex'));
    }
    expect([files.png.kind, files.svg.kind, files.spec.kind]).toEqual(['png', 'svg', 'json']);
    expect(readPng(readFileSync(files.png.path)).width).toBeLessThan(1000);
    expect(JSON.parse(readFileSync(files.spec.path, 'utf8'))).toMatchObject({ title: { text: 'SARFE10-PBPG050:PHOTON-ENERGY [keV]' } });
    expect(readdirSync(join(root, 'SPB/plots/AGIPD')).sort()).toEqual(['energy.png', 'energy.svg', 'energy.vl.json']);
  });

  it('refuses a plot path outside the report folder', async () => {
    await expect(writeTrendPlot(root, '../escaped', fixture)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});
