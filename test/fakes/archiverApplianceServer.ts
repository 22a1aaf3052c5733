/**
 * A fake EPICS Archiver Appliance for tests: a real HTTP server on 127.0.0.1 (a free port) that
 * answers `GET /retrieval/data/getData.json?pv=&from=&to=` in the appliance's JSON format, written
 * the way the appliance writes it (JSONResponse.java: one sample per line, `NaN` and `Infinity`
 * unquoted, header fields as strings), with the servlet's errors:
 *
 * - 400 for a missing `pv`, unbalanced parentheses in it, an unparsable `from`/`to`, or `from` after `to`;
 * - 404 "Unable to find typeinfo for pv …" for a PV it does not serve;
 * - scripted faults: the next n requests answered with a status (503 by default), delayed, or cut
 *   off in the middle of the body.
 *
 * Like the appliance, it includes the last sample before `from` and samples at exactly `to`.
 * PVs are served from given samples, or from a `DataLoggerSource` (the simulator) for every
 * parameter that source knows.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DataLoggerSource } from '../../adapters/dataLogger/dataLoggerSource.js';

export interface FakeSample {
  secs: number;
  nanos?: number;
  /** A number, an array (a waveform), a string… written as the appliance would. */
  val: unknown;
  severity?: number;
  status?: number;
}

export interface FakePv {
  /** Written as meta.EGU. */
  units?: string;
  /** Written as meta.PREC (a string, as the appliance does). */
  prec?: number;
  /** In time order. */
  samples: readonly FakeSample[];
}

export interface FakeArchiverOptions {
  /** PVs served from fixed samples. */
  pvs?: Readonly<Record<string, FakePv>>;
  /** Serves every parameter this source knows (PVs in `pvs` take precedence). */
  source?: DataLoggerSource;
  /** How far back to look for the sample before `from` of a source-backed PV. Default 10 s. */
  priorLookbackMs?: number;
}

export interface FakeRequest {
  /** As decoded from the query string. */
  pv: string | null;
  from: string | null;
  to: string | null;
  /** The status sent; -1 for an answer cut off by `cutNext`. */
  status: number;
}

export interface FakeArchiverServer {
  /** The retrieval URL, `http://127.0.0.1:<port>/retrieval`. */
  readonly url: string;
  /** Every getData.json request so far, in arrival order. */
  requests(): FakeRequest[];
  /** When each of `requests()` arrived (Date.now()), in the same order. */
  arrivals(): number[];
  /**
   * Answers the next `n` requests with `status` (default 503) and a short text body; with
   * `match`, only requests it accepts take these faults (others pass untouched).
   */
  failNext(n: number, status?: number, match?: (request: FakeRequest) => boolean): void;
  /** Holds every later request `ms` before answering (0 to stop): a slow appliance. */
  setLatency(ms: number): void;
  /** Drops every scripted fault not yet used. */
  clearFaults(): void;
  /** Holds the next `n` requests for `ms` before answering them. */
  delayNext(n: number, ms: number): void;
  /** Sends the status line and half of the body of the next `n` requests, then drops the connection. */
  cutNext(n: number): void;
  close(): Promise<void>;
}

const DATA_PATH = '/retrieval/data/getData.json';

/** Java's Double.toString for the special values, JSON otherwise. */
function writeVal(val: unknown): string {
  if (typeof val === 'number') {
    if (Number.isNaN(val)) return 'NaN';
    if (!Number.isFinite(val)) return val > 0 ? 'Infinity' : '-Infinity';
    return String(val);
  }
  if (Array.isArray(val)) return `[${val.map(writeVal).join(',')}]`;
  return JSON.stringify(val);
}

function sampleLine(s: FakeSample): string {
  return `{ "secs": ${s.secs}, "val": ${writeVal(s.val)}, "nanos": ${s.nanos ?? 0}, "severity": ${s.severity ?? 0}, "status": ${s.status ?? 0} }`;
}

const timeOf = (s: FakeSample): number => s.secs + (s.nanos ?? 0) / 1e9;

function balanced(pv: string): boolean {
  let depth = 0;
  for (const c of pv) {
    if (c === '(') depth++;
    if (c === ')' && --depth < 0) return false;
  }
  return depth === 0;
}

export async function startFakeArchiverAppliance(options: FakeArchiverOptions = {}): Promise<FakeArchiverServer> {
  const pvs = options.pvs ?? {};
  const lookbackMs = options.priorLookbackMs ?? 10_000;
  const log: FakeRequest[] = [];
  const arrivals: number[] = [];
  type Fault = ({ kind: 'fail'; status: number } | { kind: 'delay'; ms: number } | { kind: 'cut' }) & {
    match?: (request: FakeRequest) => boolean;
  };
  const faults: Fault[] = [];
  let latencyMs = 0;
  const timers = new Set<NodeJS.Timeout>();

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  /** The samples to send for [fromMs, toMs], the one before fromMs included. */
  async function* samplesOf(pv: string, fromMs: number, toMs: number): AsyncGenerator<FakeSample> {
    const fixed = pvs[pv];
    if (fixed !== undefined) {
      const fromS = fromMs / 1000;
      const toS = toMs / 1000;
      let prior: FakeSample | undefined;
      for (const s of fixed.samples) if (timeOf(s) < fromS) prior = s;
      if (prior) yield prior;
      for (const s of fixed.samples) if (timeOf(s) >= fromS && timeOf(s) <= toS) yield s;
      return;
    }
    const source = options.source!;
    const toSample = (t: number, v: number): FakeSample => {
      let secs = Math.floor(t);
      let nanos = Math.round((t - secs) * 1e9);
      if (nanos >= 1e9) {
        secs += 1;
        nanos -= 1e9;
      }
      return { secs, nanos, val: v };
    };
    let prior: FakeSample | undefined;
    for await (const b of source.fetchSamples(pv, new Date(fromMs - lookbackMs), new Date(fromMs))) {
      const n = b.times.length;
      if (n > 0) prior = toSample(b.times[n - 1]!, b.values[n - 1]!);
    }
    if (prior) yield prior;
    // `to` inclusive, as the appliance does: one millisecond more.
    for await (const b of source.fetchSamples(pv, new Date(fromMs), new Date(toMs + 1))) {
      for (let i = 0; i < b.times.length; i++) {
        if (b.times[i]! <= toMs / 1000) yield toSample(b.times[i]!, b.values[i]!);
      }
    }
  }

  async function unitsOf(pv: string): Promise<{ known: boolean; units?: string; prec?: number }> {
    const fixed = pvs[pv];
    if (fixed !== undefined) return { known: true, ...fixed };
    if (options.source === undefined) return { known: false };
    const d = await options.source.describe(pv);
    return d.exists ? { known: true, ...(d.units === undefined ? {} : { units: d.units }) } : { known: false };
  }

  async function write(res: ServerResponse, chunk: string): Promise<void> {
    if (!res.write(chunk)) await once(res, 'drain');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'GET' || url.pathname !== DATA_PATH) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`no such page: ${url.pathname}`);
      return;
    }
    const pv = url.searchParams.get('pv');
    const from = url.searchParams.get('from');
    const to = url.searchParams.get('to');
    const entry: FakeRequest = { pv, from, to, status: 200 };
    log.push(entry);
    arrivals.push(Date.now());
    const answer = (status: number, text: string): void => {
      entry.status = status;
      res.writeHead(status, { 'content-type': 'text/html' }).end(`<html><body><h1>${text}</h1></body></html>`);
    };

    const at = faults.findIndex((f) => f.match === undefined || f.match({ ...entry }));
    const fault = at < 0 ? undefined : faults.splice(at, 1)[0];
    if (latencyMs > 0) await sleep(latencyMs);
    if (fault?.kind === 'fail') return answer(fault.status, `Scripted failure ${fault.status}`);
    if (fault?.kind === 'delay') await sleep(fault.ms);

    if (!pv) return answer(400, 'pv is null');
    if (!balanced(pv)) return answer(400, `Unbalanced parentheses in pv ${pv}`);
    const fromMs = from === null ? Number.NaN : Date.parse(from);
    const toMs = to === null ? Number.NaN : Date.parse(to);
    if (!Number.isFinite(fromMs) || !Number.isFinite(toMs)) return answer(400, 'Cannot parse time from or to');
    if (fromMs > toMs) return answer(400, `The end time ${to} is before the start time ${from}`);
    const meta = await unitsOf(pv);
    if (!meta.known) return answer(404, `Unable to find typeinfo for pv ${pv}`);

    res.writeHead(200, { 'content-type': 'application/json' });
    let head = `{ "meta": { "name": "${pv}" `;
    if (meta.units !== undefined) head += `, "EGU": "${meta.units}" `;
    if (meta.prec !== undefined) head += `, "PREC": "${meta.prec}" `;
    await write(res, `[ \n${head}},\n"data": [ \n`);
    const lines: string[] = [];
    let pending = '';
    let first = true;
    for await (const s of samplesOf(pv, fromMs, toMs)) {
      const line = (first ? '' : ',\n') + sampleLine(s);
      first = false;
      if (fault?.kind === 'cut') {
        lines.push(line);
        continue;
      }
      pending += line;
      if (pending.length > 64 * 1024) {
        await write(res, pending);
        pending = '';
      }
    }
    if (fault?.kind === 'cut') {
      await write(res, lines.slice(0, Math.ceil(lines.length / 2)).join(''));
      entry.status = -1;
      res.destroy();
      return;
    }
    res.end(`${pending}\n] }\n ]\n`);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(e));
      else res.destroy();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/retrieval`,
    requests: () => log.map((r) => ({ ...r })),
    arrivals: () => [...arrivals],
    failNext(n, status = 503, match) {
      for (let i = 0; i < n; i++) faults.push({ kind: 'fail', status, ...(match ? { match } : {}) });
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    clearFaults() {
      faults.length = 0;
    },
    delayNext(n, ms) {
      for (let i = 0; i < n; i++) faults.push({ kind: 'delay', ms });
    },
    cutNext(n) {
      for (let i = 0; i < n; i++) faults.push({ kind: 'cut' });
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
    },
  };
}
