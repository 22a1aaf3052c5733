/**
 * The status page under a big history: 10,000 jobs in the projections, the first screen of the job
 * list in real Chromium against a static file of the same bytes from the same server, and the CPU
 * that 100 connected live-feed clients cost an idle `daqflow up`.
 *
 *   npm run bench:page -- [--jobs 10000] [--runs 15] [--clients 100] [--idle-seconds 30]
 *
 * The jobs go in as real events (two per job: started, then completed or failed) appended to the
 * stream before `daqflow up` starts; its projector writes the rows, so the rows are exactly those
 * production writes. `daqflow up` runs from the build (npm run build), as a deployment runs it.
 * The idle figures are of a daqflow with a bsread stream configured where nothing sends (an idle
 * beamline); the feed clients are real HTTP connections reading /api/feed as EventSource does,
 * not 100 Chromium pages, which two cores shared with other work could not hold.
 * Prints a Markdown table on stdout, progress on stderr.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request, type ClientRequest } from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { eventSubjectPrefix } from '../adapters/app/startDaqflow.js';
import { freePort } from '../adapters/embedded/freePort.js';
import { createJetStreamEventStore } from '../adapters/jetstream/index.js';
import type { EventEnvelope } from '../events/envelope.js';
import { launchChromium } from '../test/harness/chromium.js';
import { killAllDaqflowProcesses, startDaqflowProcess } from '../test/harness/daqflowProcess.js';
import { httpUrlOf } from '../test/harness/httpEndpoints.js';
import { ensureBuild } from './ensureBuild.js';
import { Cleanup, startBenchServers } from './servers.js';
import { fmt, median, pool } from './stats.js';

const option = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isFinite(value) || value < 1) throw new Error(`--${name} takes a number of 1 or more`);
  return value;
};
const JOBS = option('jobs', 10_000);
const RUNS = option('runs', 15);
const CLIENTS = option('clients', 100);
const IDLE_SECONDS = option('idle-seconds', 30);
const log = (line: string): void => void process.stderr.write(`bench:page: ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const until = async <T>(what: string, check: () => Promise<T | undefined>, ms: number): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(250);
  }
};

/** CPU seconds (user + system, every thread) of a process, from /proc. */
const cpuSeconds = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

/** Share of one core a process used over `seconds`, measured from /proc. */
const coreShare = async (pid: number, seconds: number): Promise<number> => {
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  await sleep(seconds * 1_000);
  return (cpuSeconds(pid) - cpu0) / ((performance.now() - t0) / 1_000);
};

/**
 * Run in the page before its own scripts: the time (ms since navigation start) when the first row
 * of a job table is in the DOM, and the frame after it, when it is on screen.
 */
const firstRowProbe = `(() => {
  const seen = () => document.querySelector('#job-rows tr, #static-jobs tbody tr');
  const record = () => {
    window.__firstRowInDom = performance.now();
    requestAnimationFrame(() => { window.__firstRowPainted = performance.now(); });
  };
  new MutationObserver((_, observer) => { if (seen()) { observer.disconnect(); record(); } })
    .observe(document, { childList: true, subtree: true });
})();`;

const escape = (text: string): string => text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);

const main = async (): Promise<void> => {
  ensureBuild(log);
  const cleanup = new Cleanup();
  const stop = (): void => void cleanup.runAll().finally(() => process.exit(130));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const servers = await startBenchServers(cleanup, log);
    const token = randomUUID().slice(0, 8);
    const stream = `BENCH_PAGE_${token.toUpperCase()}`;
    const prefix = `bench_page_${token}`;
    const home = join(servers.scratch, 'home');
    const dataRoot = join(home, 'data');
    mkdirSync(dataRoot, { recursive: true });
    const env = {
      DAQFLOW_NATS_URL: servers.nats.url,
      DAQFLOW_DATABASE_URL: servers.dbUrl,
      DAQFLOW_HOME: home,
      DAQFLOW_DATA_ROOT: dataRoot,
      DAQFLOW_STREAM: stream,
      DAQFLOW_SUBJECT_PREFIX: prefix,
      DAQFLOW_HTTP: '127.0.0.1:0',
      DAQFLOW_LOG_LEVEL: 'warn',
      // An idle beamline: a stream configured where nothing sends yet. Without one, daqflow up
      // simulates a 100 Hz stream in the process, which is work, not idle.
      DAQFLOW_BSREAD_STREAM: `tcp://127.0.0.1:${await freePort()}`,
      DAQFLOW_BSREAD_MODE: 'pull',
    };

    // The history: JOBS finished demo jobs (one in ten failed), a second apart, appended as the
    // runtime would (version 1, then 2, each actor's events in order).
    const store = createJetStreamEventStore({ nc: servers.nc, stream, subjectPrefix: eventSubjectPrefix({ subjectPrefix: prefix }) });
    const { ensureEventStream } = await import('../adapters/jetstream/eventStream.js');
    await ensureEventStream(servers.jsm, { stream, subjectPrefix: eventSubjectPrefix({ subjectPrefix: prefix }) });
    const t0 = Date.UTC(2026, 10, 1);
    const ids = Array.from({ length: JOBS }, (_, i) => `bench-${String(i).padStart(6, '0')}`);
    const event = (i: number, version: 1 | 2): EventEnvelope => {
      const id = ids[i] as string;
      const failed = i % 10 === 0;
      const final = version === 2;
      return {
        id: `${id}-${version}`,
        type: final ? (failed ? 'DemoFailed' : 'DemoCompleted') : 'DemoStarted',
        schemaVersion: 1,
        actorKind: 'demo',
        actorId: id,
        version,
        time: new Date(t0 + i * 1_000 + (version - 1) * 500).toISOString(),
        correlationId: `corr-${id}`,
        causationId: version === 1 ? null : `${id}-1`,
        commandId: null,
        previousState: version === 1 ? null : 'running',
        state: final ? (failed ? 'failed' : 'completed') : 'running',
        final,
        summary: { steps: 5, step: final ? 5 : 0, label: `bench job ${i}`, ...(failed && final ? { error: 'DEMO_FAILED: step 3 of 5 asked to fail' } : {}) },
        data: {},
      };
    };
    const seedStarted = performance.now();
    for (const version of [1, 2] as const) await pool(ids, 32, async (_, i) => void (await store.append(event(i, version))));
    const seedMs = performance.now() - seedStarted;
    log(`${JOBS * 2} events appended in ${fmt(seedMs)} ms`);

    const upStarted = performance.now();
    const up = await startDaqflowProcess({ env, timeoutMs: 180_000 });
    cleanup.add('stopping daqflow up', () => killAllDaqflowProcesses());
    const url = httpUrlOf(up);
    const pid = up.child.pid as number;
    await until(`the projector to write ${JOBS} jobs`, async () => {
      const page = (await (await fetch(`${url}/api/jobs?limit=1`)).json()) as { total: number };
      const ready = (await fetch(`${url}/readyz`)).status === 200;
      return page.total === JOBS && ready ? true : undefined;
    }, 300_000);
    const projectedMs = performance.now() - upStarted;
    log(`daqflow up ready and ${JOBS} jobs projected ${fmt(projectedMs)} ms after its start`);

    // What the first screen needs from the server, and the API's own time for it.
    const apiMs: number[] = [];
    let firstScreenBytes = 0;
    let firstPage: { rows: Array<Record<string, unknown>>; total: number } = { rows: [], total: 0 };
    for (let i = 0; i < RUNS; i++) {
      const s = performance.now();
      const response = await fetch(`${url}/api/jobs?limit=200&offset=0`);
      const text = await response.text();
      apiMs.push(performance.now() - s);
      firstScreenBytes = text.length;
      firstPage = JSON.parse(text) as typeof firstPage;
    }
    for (const path of ['/', '/assets/jobs.js', '/assets/common.js', '/assets/style.css', '/api/facets']) {
      firstScreenBytes += (await (await fetch(`${url}${path}`)).text()).length;
    }
    // The baseline: the same rows as a plain HTML table, padded to the same bytes, no script,
    // served by the same fastify (its /files/ route).
    let baseline =
      '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>baseline</title></head><body><table id="static-jobs"><tbody>' +
      firstPage.rows.map((r) => `<tr><td>${escape(String(r.id))}</td><td>${escape(String(r.kind))}</td><td>${escape(String(r.state))}</td><td>${escape(JSON.stringify(r.summary))}</td><td>${escape(String(r.created_at))}</td></tr>`).join('') +
      '</tbody></table>';
    baseline += `<!--${'x'.repeat(Math.max(0, firstScreenBytes - baseline.length - 24))}--></body></html>`;
    writeFileSync(join(dataRoot, 'baseline.html'), baseline);

    const browser = await launchChromium();
    cleanup.add('closing Chromium', () => browser.close());
    const firstScreen = async (path: string): Promise<{ dom: number; painted: number }> => {
      // A fresh context each time: nothing cached, as a browser opening the page the first time.
      const context: BrowserContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      try {
        const page = await context.newPage();
        await page.addInitScript(firstRowProbe);
        await page.goto(`${url}${path}`);
        await page.waitForFunction(() => (window as unknown as { __firstRowPainted?: number }).__firstRowPainted !== undefined, undefined, { timeout: 60_000 });
        const times = await page.evaluate(() => {
          const w = window as unknown as { __firstRowInDom: number; __firstRowPainted: number };
          return { dom: w.__firstRowInDom, painted: w.__firstRowPainted };
        });
        // The list goes on past its first screen: its whole first page of rows arrives.
        const rows = Math.min(200, JOBS);
        if (path === '/') await page.waitForFunction((n) => document.querySelectorAll('#job-rows tr').length === n, rows, { timeout: 60_000 });
        return times;
      } finally {
        await context.close();
      }
    };
    await firstScreen('/'); // warms Chromium's own start-up, not the page
    await firstScreen('/files/baseline.html');
    const pageMs: number[] = [];
    const baselineMs: number[] = [];
    const pageDomMs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const p = await firstScreen('/');
      pageMs.push(p.painted);
      pageDomMs.push(p.dom);
      baselineMs.push((await firstScreen('/files/baseline.html')).painted);
    }
    log(`first screen: page ${pageMs.map((x) => fmt(x)).join(', ')} ms; baseline ${baselineMs.map((x) => fmt(x)).join(', ')} ms`);
    await browser.close();

    // The live feed: CPU of the idle daqflow with nobody connected, then with CLIENTS connected,
    // after a pause that lets the page loads above settle (pools, timers, GC).
    await sleep(10_000);
    log(`idle, no feed clients: ${IDLE_SECONDS} s`);
    const idleAlone = await coreShare(pid, IDLE_SECONDS);
    const clients: ClientRequest[] = [];
    const hellos = new Set<number>();
    const heardActors = new Set<number>();
    for (let i = 0; i < CLIENTS; i++) {
      const req = request(`${url}/api/feed`, { agent: false, headers: { accept: 'text/event-stream' } }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (chunk.includes('event: hello')) hellos.add(i);
          if (chunk.includes('event: actors')) heardActors.add(i);
        });
      });
      req.on('error', () => undefined);
      req.end();
      clients.push(req);
    }
    cleanup.add('closing the feed clients', () => clients.forEach((c) => c.destroy()));
    await until(`${CLIENTS} feed clients to connect`, async () => (hellos.size === CLIENTS ? true : undefined), 30_000);
    await sleep(2_000);
    log(`idle, ${CLIENTS} feed clients connected: ${IDLE_SECONDS} s`);
    const idleWithClients = await coreShare(pid, IDLE_SECONDS);
    // The clients were on a working feed: one more job reaches every one of them.
    const extra = `bench-extra-${token}`;
    await store.append({ ...event(0, 1), id: `${extra}-1`, actorId: extra, correlationId: `corr-${extra}` });
    await until(`the new job to reach all ${CLIENTS} clients`, async () => (heardActors.size === CLIENTS ? true : undefined), 30_000);
    clients.forEach((c) => c.destroy());

    const load = os.loadavg().map((l) => l.toFixed(1)).join(' ');
    const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
    const pageMedian = median(pageMs);
    const baseMedian = median(baselineMs);
    process.stdout.write(
      [
        `${JOBS.toLocaleString('en')} jobs (${(JOBS * 2).toLocaleString('en')} events appended in ${fmt(seedMs)} ms, projected by \`daqflow up\` from the build ${fmt(projectedMs)} ms after its start); first screen ${RUNS} runs each in headless Chromium, a fresh context (no cache) per run, interleaved with the baseline; feed idle ${IDLE_SECONDS} s per figure; load average ${load} at the end`,
        '',
        line(['measurement', 'daqflow', 'baseline', 'ratio', 'target', 'result']),
        line(['---', '---:', '---:', '---:', '---', '---']),
        line([
          `job list, first screen: navigation start to the first row painted (median; DOM ${fmt(median(pageDomMs))} ms)`,
          `${fmt(pageMedian)} ms (${fmt(Math.min(...pageMs))}-${fmt(Math.max(...pageMs))})`,
          `${fmt(baseMedian)} ms (${fmt(Math.min(...baselineMs))}-${fmt(Math.max(...baselineMs))}): static HTML of the same ${fmt(firstScreenBytes)} bytes and rows, same fastify`,
          (pageMedian / baseMedian).toFixed(2),
          '< 300 ms',
          pageMedian < 300 ? 'PASS' : 'MISS',
        ]),
        line([`/api/jobs?limit=200 of ${JOBS.toLocaleString('en')} (median, from node)`, `${fmt(median(apiMs), 1)} ms`, '-', '-', 'info', 'INFO']),
        line([
          `daqflow up idle, ${CLIENTS} live-feed clients connected (real HTTP SSE clients, one connection each)`,
          `${(idleWithClients * 100).toFixed(2)} % of a core`,
          `${(idleAlone * 100).toFixed(2)} % with no client`,
          idleAlone > 0 ? (idleWithClients / idleAlone).toFixed(2) : '-',
          '< 5 % of a core',
          idleWithClients < 0.05 ? 'PASS' : 'MISS',
        ]),
      ].join('\n') + '\n',
    );
    up.kill('SIGTERM');
    await up.exited;
  } finally {
    await cleanup.runAll();
  }
};

await main();
