/// <reference lib="dom" />
// The page functions below run in Chromium and read its DOM.
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, showResult, startDaqflowProcess, type CliResult, type DaqflowProcess } from '../harness/daqflowProcess.js';
import { launchChromium, screenshotDir } from '../harness/chromium.js';
import { httpUrlOf } from '../harness/httpEndpoints.js';
import { readWholeStream, useE2eEnvironments } from './e2eHelpers.js';

const e2e = useE2eEnvironments('status-page');
let env: Record<string, string>;
let stream: string;
let prefix: string;
let daqflow: DaqflowProcess;
let url: string;
let browser: Browser;
let page: Page;
let demo: Promise<CliResult>;

const PAGE_WAIT_MS = 120_000;

beforeAll(async () => {
  ({ env, stream, prefix } = await e2e.create());
  env = { ...env, DAQFLOW_HTTP: '127.0.0.1:0' };
  daqflow = await startDaqflowProcess({ env });
  url = httpUrlOf(daqflow);
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(PAGE_WAIT_MS);
});

afterAll(async () => {
  await browser?.close();
  daqflow?.kill('SIGKILL');
});

const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: true });

/** Tabs through the page from its top and answers the links focus never reached (none: all reachable). */
const linksKeyboardMisses = async (): Promise<string[]> => {
  const links = await page.$$eval('a[href]', (as) =>
    as.filter((a) => (a as HTMLElement).offsetParent !== null || a.classList.contains('skip')).map((a) => a.getAttribute('href') ?? ''),
  );
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.evaluate(() => window.scrollTo(0, 0));
  const reached = new Set<string>();
  for (let i = 0; i < links.length + 40; i++) {
    await page.keyboard.press('Tab');
    const href = await page.evaluate(() => document.activeElement?.getAttribute('href') ?? null);
    if (href !== null) reached.add(href);
  }
  return links.filter((href) => !reached.has(href));
};

describe('the status page in Chromium while the demo runs', () => {
  it('lists the jobs as they appear and change state, without a reload', async () => {
    await page.goto(`${url}/`);
    await page.waitForSelector('#job-count');
    // Records every state each row shows, from now on; a reload would lose the record.
    await page.evaluate(() => {
      const seen: Record<string, string[]> = {};
      (window as unknown as { seenStates: typeof seen }).seenStates = seen;
      const record = (): void => {
        for (const tr of document.querySelectorAll<HTMLTableRowElement>('#job-rows tr')) {
          const id = tr.dataset.id ?? '';
          const states = (seen[id] ??= []);
          if (states[states.length - 1] !== tr.dataset.state) states.push(tr.dataset.state ?? '');
        }
      };
      record();
      new MutationObserver(record).observe(document.getElementById('job-rows') as HTMLElement, { childList: true, subtree: true });
    });
    expect(await page.locator('#job-rows tr').count()).toBe(0);
    demo = runCli(['demo', '--steps', '6', '--interval-ms', '500'], env, 300_000);
    await page.waitForSelector('#job-rows tr[data-state="completed"] >> text=demo');
    await page.waitForFunction(() => document.querySelectorAll('#job-rows tr[data-state="completed"]').length === 4, undefined, { timeout: 240_000 });
    const result = await demo;
    expect(result.code, showResult(['demo'], result)).toBe(0);
    const seen = await page.evaluate(() => (window as unknown as { seenStates: Record<string, string[]> }).seenStates);
    const kinds = await page.$$eval('#job-rows tr', (trs) => trs.map((tr) => tr.children[1]?.textContent));
    expect(kinds.sort()).toEqual(['acquisition', 'demo', 'grab', 'report']);
    // Each job was seen in a state before its last: the rows changed in place.
    for (const [id, states] of Object.entries(seen)) {
      expect(states.length, `${id}: ${states.join(' → ')}`).toBeGreaterThan(1);
      expect(states[states.length - 1]).toBe('completed');
    }
    expect(Object.keys(seen)).toHaveLength(4);
    await shot('jobs');
    expect(await linksKeyboardMisses()).toEqual([]);
  }, 300_000);

  it('opens a job on a click and shows every transition of it', async () => {
    const demoRow = page.locator('#job-rows tr', { hasText: 'demo' }).first();
    const id = (await demoRow.getAttribute('data-id')) ?? '';
    await demoRow.locator('a').click();
    await page.waitForURL(`**/jobs/${id}`);
    await page.waitForSelector('#timeline-rows tr');
    const events = (await readWholeStream(env.DAQFLOW_NATS_URL as string, stream, prefix)).filter((e) => e.actorId === id);
    expect(events.length).toBeGreaterThan(6);
    const rows = await page.$$eval('#timeline-rows tr', (trs) =>
      trs.map((tr) => ({ version: Number(tr.children[0]?.textContent), type: tr.children[2]?.textContent ?? '', to: tr.children[3]?.textContent ?? '' })),
    );
    expect(rows).toEqual(events.map((e) => ({ version: e.version, type: e.type, to: `${e.previousState ?? '∅'} → ${e.state}` })));
    expect(await page.textContent('#job-facts')).toContain('completed');
    await shot('job-demo');
    expect(await linksKeyboardMisses()).toEqual([]);
  }, 120_000);

  it("shows an acquisition's pulse count rising and the ring buffer's counters", async () => {
    const started = await runCli(['acquire', 'start', '--output', 'status-page/live.h5', '--detach'], env, 120_000);
    expect(started.code, showResult(['acquire', 'start'], started)).toBe(0);
    const id = started.stdout.trim();
    await page.goto(`${url}/`);
    await page.locator(`#job-rows tr[data-id="${id}"] a`).click();
    await page.waitForURL(`**/jobs/${id}`);
    const counts: number[] = [];
    const pulses = async (): Promise<number> => Number(((await page.textContent('#pulses-written')) ?? '').replace(/[^0-9]/g, '') || 0);
    await page.waitForSelector('#pulses-written');
    // The count comes from the acquisition's progress events, at most one a second, pushed by the feed.
    while (counts.filter((n) => n > 0).length < 3) {
      const n = await pulses();
      if (counts[counts.length - 1] !== n) counts.push(n);
      await page.waitForFunction((before) => Number((document.getElementById('pulses-written')?.textContent ?? '').replace(/[^0-9]/g, '') || 0) !== before, n, {
        timeout: 60_000,
      });
    }
    counts.push(await pulses());
    for (let i = 1; i < counts.length; i++) expect(counts[i], counts.join(', ')).toBeGreaterThan(counts[i - 1] as number);
    const ring = (await page.textContent('#ring-buffer')) ?? '';
    for (const label of ['Received', 'Malformed', 'Pulse id gaps', 'Dropped', 'Pulse range held']) expect(ring).toContain(label);
    await shot('job-acquisition');
    const stopped = await runCli(['acquire', 'stop', id, '--follow'], env, 120_000);
    expect(stopped.code, showResult(['acquire', 'stop'], stopped)).toBe(0);
    await page.waitForSelector('#job-facts >> text=completed');
  }, 180_000);

  it("draws a parameter's trend from the statistics database, with the rows behind it", async () => {
    await page.goto(`${url}/statistics`);
    await page.waitForSelector('#parameter option[value="SIM:SINE"]', { state: 'attached' });
    await page.selectOption('#parameter', 'SIM:SINE');
    await page.waitForSelector('#plot canvas');
    await page.waitForSelector('#stats-rows tr');
    expect(Number(await page.getAttribute('#plot', 'data-points'))).toBeGreaterThan(0);
    const legend = (await page.textContent('#plot')) ?? '';
    for (const series of ['max', 'mean + std', 'mean', 'mean − std', 'min']) expect(legend).toContain(series);
    expect(await page.locator('#stats-rows tr').count()).toBe(1);
    await shot('statistics');
    expect(await linksKeyboardMisses()).toEqual([]);
  }, 120_000);

  it('lists the report sites, whose pages daqflow serves', async () => {
    await page.goto(`${url}/reports`);
    const link = page.locator('#report-sites a', { hasText: 'report site' }).first();
    await link.waitFor();
    await shot('reports');
    expect(await linksKeyboardMisses()).toEqual([]);
    const [response] = await Promise.all([page.waitForResponse((r) => r.url().includes('/files/')), link.click()]);
    expect(response.status()).toBe(200);
    expect(await page.title()).not.toBe('');
    await shot('report-site');
  }, 120_000);
});
