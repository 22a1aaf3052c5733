import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Parser } from 'htmlparser2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plotBasePath, REPORT_INDEX } from './reportPaths.js';
import { writeReportSite, type ReportPlot, type ReportSite } from './reportSite.js';
import { statisticsFixture } from '../../test/fixtures/statisticsFixture.js';
import { writeTrendPlot } from './trendPlot.js';
import type { ReportArtifact } from './reportArtifact.js';

const root = mkdtempSync(path.join(tmpdir(), 'daqflow-site-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const HOSTILE = 'FXE "<b>bold</b>" & <script>alert(1)</script>';

/** Links, image sources, anchors, element names and text of an HTML file, read by a real parser. */
const readHtml = (file: string) => {
  const links: string[] = [];
  const images: string[] = [];
  const ids: string[] = [];
  const tags: string[] = [];
  let text = '';
  const parser = new Parser({
    onopentag: (name, attrs) => {
      tags.push(name);
      if (attrs.href !== undefined) links.push(attrs.href);
      if (name === 'img' && attrs.src !== undefined) images.push(attrs.src);
      if (attrs.id !== undefined) ids.push(attrs.id);
    },
    ontext: (t) => {
      text += t;
    },
  }, { decodeEntities: true });
  parser.write(readFileSync(file, 'utf8'));
  parser.end();
  return { links, images, ids, tags, text };
};

/** The file a relative link of `page` points at (anchors dropped, URL escapes decoded). */
const target = (page: string, href: string): string =>
  path.resolve(path.dirname(page), decodeURIComponent(href.split('#')[0] ?? ''));

const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.join(d.parentPath, d.name));

const plotOf = async (instrument: string, group: string, parameter: string, units: string | null, runs: number): Promise<ReportPlot> => {
  const input = statisticsFixture({ parameter, units, runs });
  const files = await writeTrendPlot(root, plotBasePath(instrument, group, parameter), input, { scale: 1 });
  return { parameter, units, png: files.png.relativePath, svg: files.svg.relativePath, spec: files.spec.relativePath };
};

let site: ReportSite;
let artifacts: ReportArtifact[];

beforeAll(async () => {
  site = {
    title: 'daqflow detector report <weekly>',
    generatedAt: '2026-11-15T06:00:00Z',
    instruments: [
      {
        name: 'SPB',
        from: '2026-11-01T00:00:00Z',
        to: '2026-11-15T00:00:00Z',
        groups: [
          {
            name: 'AGIPD',
            plots: [
              await plotOf('SPB', 'AGIPD', 'SPB_DET_AGIPD1M-1:BIAS-VOLTAGE', 'V', 14),
              await plotOf('SPB', 'AGIPD', 'SPB_DET_AGIPD1M-1:TEMPERATURE', 'K', 14),
            ],
          },
          { name: 'vacuum & <gauges>', plots: [await plotOf('SPB', 'vacuum & <gauges>', 'SPB:VAC:P1', 'mbar', 0)] },
        ],
      },
      {
        name: HOSTILE,
        from: '2026-11-08T00:00:00Z',
        to: 'NOW',
        groups: [
          {
            name: 'LPD',
            plots: [
              await plotOf(HOSTILE, 'LPD', 'FXE:LPD:GAIN', null, 7),
              // A job that failed: its files were never written.
              { parameter: 'FXE:LPD:OFFSET', units: 'ADU', ...pathsOf(HOSTILE, 'LPD', 'FXE:LPD:OFFSET'), note: 'job 42 failed: exit code 1' },
            ],
          },
        ],
      },
    ],
  };
  artifacts = await writeReportSite(root, site);
});

function pathsOf(instrument: string, group: string, parameter: string) {
  const base = plotBasePath(instrument, group, parameter);
  return { png: `${base}.png`, svg: `${base}.svg`, spec: `${base}.vl.json` };
}

describe('the HTML report', () => {
  it('links every instrument page from the index, and each page exists', () => {
    const index = path.join(root, REPORT_INDEX);
    const { links } = readHtml(index);
    const pages = links.map((href) => target(index, href));
    expect(pages).toHaveLength(2);
    for (const page of pages) expect(statSync(page).isFile()).toBe(true);
    expect(new Set(pages)).toEqual(new Set(artifacts.filter((a) => a.relativePath !== REPORT_INDEX).map((a) => a.path)));
    expect(readHtml(index).text).toContain('generated 2026-11-15 06:00 UTC');
  });

  it('links from each page only files that exist, and every plot file that exists', () => {
    for (const page of artifacts.filter((a) => a.relativePath !== REPORT_INDEX).map((a) => a.path)) {
      const html = readHtml(page);
      const files = [...html.links, ...html.images].filter((href) => !href.startsWith('#'));
      for (const href of files) {
        // Relative links only: the folder can be published anywhere.
        expect(href).not.toMatch(/^[a-z][a-z0-9+.-]*:|^\//i);
        expect(existsSync(target(page, href)), `${href} of ${page}`).toBe(true);
      }
      for (const anchor of html.links.filter((href) => href.startsWith('#'))) expect(html.ids).toContain(anchor.slice(1));
      const linked = new Set(files.map((href) => target(page, href)));
      const plotFiles = filesUnder(path.join(path.dirname(page), 'plots')).filter((f) => /\.(png|svg|json)$/.test(f));
      expect(plotFiles.length).toBeGreaterThan(0);
      for (const file of plotFiles) expect(linked.has(file), `${file} is not linked from ${page}`).toBe(true);
      // Each PNG shown as an image, in the page of its instrument.
      for (const png of plotFiles.filter((f) => f.endsWith('.png'))) {
        expect(html.images.map((src) => target(page, src))).toContain(png);
      }
    }
  });

  it('shows a plot that was not produced as such, with its note and no broken link', () => {
    const page = path.join(root, artifacts[1]?.relativePath ?? '');
    const html = readHtml(page);
    expect(html.text).toContain('FXE:LPD:OFFSET [ADU]: plot not produced. job 42 failed: exit code 1');
    expect(html.images).toHaveLength(1);
  });

  it('escapes names: a hostile instrument name stays text', () => {
    for (const file of [path.join(root, REPORT_INDEX), path.join(root, artifacts[1]?.relativePath ?? '')]) {
      const html = readHtml(file);
      expect(html.tags).not.toContain('script');
      expect(html.tags).not.toContain('b');
      expect(html.text).toContain(HOSTILE);
    }
    const spb = readHtml(path.join(root, artifacts[0]?.relativePath ?? ''));
    expect(spb.text).toContain('vacuum & <gauges>');
    expect(spb.text).toContain('2026-11-01 00:00 UTC to 2026-11-15 00:00 UTC · generated 2026-11-15 06:00 UTC');
    expect(spb.text).toContain('SPB_DET_AGIPD1M-1:BIAS-VOLTAGE [V]');
    expect(readHtml(path.join(root, artifacts[1]?.relativePath ?? '')).text).toContain('to NOW');
  });

  it('returns the pages it wrote with their size and hash, the index last', () => {
    expect(artifacts.map((a) => a.kind)).toEqual(['html', 'html', 'html']);
    expect(artifacts.at(-1)?.relativePath).toBe(REPORT_INDEX);
    for (const artifact of artifacts) {
      const content = readFileSync(artifact.path);
      expect(artifact.bytes).toBe(content.length);
      expect(artifact.sha256).toBe(createHash('sha256').update(content).digest('hex'));
    }
  });

  it('leaves no temp file behind and writes the same bytes again for the same input', async () => {
    expect(filesUnder(root).filter((f) => path.basename(f).startsWith('.'))).toEqual([]);
    const again = await writeReportSite(root, site);
    expect(again.map((a) => a.sha256)).toEqual(artifacts.map((a) => a.sha256));
  });

  it('refuses two instruments that would share a page, and plot paths outside the folder', async () => {
    const instrument = { name: 'SPB', from: '2026-11-01', to: '2026-11-02', groups: [] };
    await expect(writeReportSite(root, { ...site, instruments: [instrument, instrument] })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    const escaping = { ...instrument, groups: [{ name: 'g', plots: [{ parameter: 'p', png: '../../etc/passwd.png' }] }] };
    await expect(writeReportSite(root, { ...site, instruments: [escaping] })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});
