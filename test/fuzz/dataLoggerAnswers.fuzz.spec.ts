import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createArchiverApplianceSource } from '../../adapters/dataLogger/archiverAppliance.js';
import type { SampleBatch } from '../../adapters/dataLogger/dataLoggerSource.js';
import { DataLoggerError, type DataLoggerFailure } from '../../adapters/dataLogger/errors.js';
import { apiRequest, useE2eEnvironments, waitFor, type DaqflowEnvironment } from '../e2e/e2eHelpers.js';
import { startDaqflowProcess, type DaqflowProcess } from '../harness/daqflowProcess.js';
import { emptyAnswer, httpAnswer, startScriptedArchiver, type ScriptedArchiverServer } from '../fakes/scriptedArchiverServer.js';
import { fuzzSettings, propertyParameters } from './fuzzSettings.js';

/*
 * The data logger's answers, as grab runs read them from an Archiver Appliance: generated broken
 * answers (cut, truncated, flipped, of the wrong shape, with every status) to the source itself,
 * then the slow and endless ones to the source and to whole grab runs of a real `daqflow up`. The
 * appliance cannot run here; a scripted server per scenario writes its answers byte by byte.
 * docs/grabs.md and adapters/dataLogger/archiverAppliance.ts say what each answer must become.
 */

const settings = fuzzSettings(200);
const T0 = Date.parse('2026-11-20T00:00:00Z');
const S0 = T0 / 1000;
const WINDOW_S = 60;
const TIMEOUT_MS = 1_500;

/** The reason each answer may end in, and whether it is retried (errors.ts); anything else is a bug. */
const retryable: Readonly<Record<DataLoggerFailure, boolean>> = {
  UNKNOWN_PARAMETER: false,
  BAD_REQUEST: false,
  BAD_WINDOW: false,
  NOT_SCALAR: false,
  UNAVAILABLE: true,
  TIMEOUT: true,
  REFUSED: false,
  BAD_RESPONSE: false,
};

let server: ScriptedArchiverServer;
const outcomes = new Map<string, number>();
const count = (label: string): void => {
  outcomes.set(label, (outcomes.get(label) ?? 0) + 1);
};

const validAnswer = (samples: number, pv = 'FUZZ:PV'): string =>
  `[{"meta":{"name":"${pv}","EGU":"mA","PREC":"3"},"data":[\n${Array.from(
    { length: samples },
    (_, i) => `{ "secs": ${S0 + Math.floor((i * WINDOW_S) / Math.max(1, samples))}, "val": ${i % 7 === 0 ? 'NaN' : i * 0.5}, "nanos": ${i * 1_000}, "severity": 0, "status": 0 }`,
  ).join(',\n')}\n]}]`;

type Scripted = (socket: Socket) => void;

/** Generated answers: what a broken or hostile appliance (or a proxy in front of it) can send. */
const brokenAnswer: fc.Arbitrary<{ what: string; status?: number; write: Scripted }> = fc.oneof(
  fc.record({ samples: fc.nat(50), at: fc.double({ min: 0, max: 1, noNaN: true }) }).map(({ samples, at }) => {
    const body = Buffer.from(validAnswer(samples));
    const k = Math.floor(at * body.length);
    return { what: 'truncated (complete HTTP)', write: (s: Socket) => httpAnswer(s, 200, body.subarray(0, k)) };
  }),
  fc.record({ samples: fc.nat(50), at: fc.double({ min: 0, max: 0.99, noNaN: true }) }).map(({ samples, at }) => {
    const body = Buffer.from(validAnswer(samples));
    const k = Math.floor(at * body.length);
    return {
      what: '200 cut short',
      write: (s: Socket) => {
        s.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`);
        s.write(body.subarray(0, k), () => s.destroy());
      },
    };
  }),
  fc.record({ samples: fc.integer({ min: 1, max: 30 }), flips: fc.array(fc.tuple(fc.nat(), fc.nat(7)), { minLength: 1, maxLength: 4 }) }).map(({ samples, flips }) => {
    const body = Buffer.from(validAnswer(samples));
    for (const [at, bit] of flips) body[at % body.length] = (body[at % body.length] as number) ^ (1 << bit);
    return { what: 'bits flipped', write: (s: Socket) => httpAnswer(s, 200, body) };
  }),
  fc
    .constantFrom(
      '{}', 'null', '[]', '[1]', '"x"', '[null]', '[{}]', '[{"data":{}}]', '[{"meta":1,"data":[]}]', '[{"data":[1]}]', '[{"data":[null]}]',
      `[{"data":[{"secs":"${S0}","val":1}]}]`, '[{"data":[{"secs":1e400,"val":1}]}]', `[{"data":[{"secs":${S0},"val":[1,2,3]}]}]`,
      `[{"data":[{"secs":${S0},"nanos":1e400,"val":1}]}]`, `[{"data":[{"secs":${S0},"nanos":-5e9,"val":{}}]}]`, `[{"data":[{"secs":${S0},"val":-Infinity}]}]`,
      `[{"meta":{"EGU":{"x":1}},"data":[{"secs":${S0 + 120},"val":1},{"secs":${S0 - 5},"val":2}]}]`, `[{"__proto__":{"data":[]},"data":[]}]`,
      `[${'['.repeat(50_000)}${']'.repeat(50_000)}]`, '\ufeff[]', '<html><body>Proxy Error</body></html>', '',
    )
    .map((body) => ({ what: 'wrong shape', write: (s: Socket) => httpAnswer(s, 200, body) })),
  fc
    .record({
      status: fc.constantFrom(201, 204, 301, 400, 401, 403, 404, 408, 410, 418, 429, 500, 502, 503, 504),
      body: fc.oneof(fc.constant(''), fc.string({ maxLength: 200 }), fc.constant(`<html>${'x'.repeat(100_000)}</html>`)),
    })
    .map(({ status, body }) => ({ what: `status ${status}`, status, write: (s: Socket) => httpAnswer(s, status, status === 204 ? '' : body, 'text/html') })),
  fc.uint8Array({ maxLength: 2_000 }).map((bytes) => ({ what: 'binary garbage', write: (s: Socket) => httpAnswer(s, 200, Buffer.from(bytes)) })),
  fc.uint8Array({ minLength: 1, maxLength: 200 }).map((bytes) => ({ what: 'not HTTP at all', write: (s: Socket) => s.end(Buffer.from(bytes)) })),
  fc
    .record({ secs: fc.jsonValue(), nanos: fc.jsonValue(), val: fc.jsonValue() })
    .map((sample) => ({ what: 'sample fields of any JSON', write: (s: Socket) => httpAnswer(s, 200, JSON.stringify([{ meta: {}, data: [sample] }])) })),
);

/** Checks the batches of a call that succeeded against the source contract (dataLoggerSource.ts). */
const checkBatches = (batches: readonly SampleBatch[], fromMs: number, toMs: number): void => {
  let last = -Infinity;
  let through = fromMs;
  for (const b of batches) {
    expect(b.times.length).toBe(b.values.length);
    for (const t of b.times) {
      expect(t).toBeGreaterThanOrEqual(Math.max(last, fromMs / 1000));
      expect(t).toBeLessThan(toMs / 1000);
      last = t;
    }
    expect(b.through.getTime()).toBeGreaterThanOrEqual(through);
    through = b.through.getTime();
  }
  expect(through).toBe(toMs);
};

const collect = async (
  source: ReturnType<typeof createArchiverApplianceSource>,
  fromMs = T0,
  toMs = T0 + WINDOW_S * 1000,
): Promise<{ batches: SampleBatch[]; error?: DataLoggerError; ms: number }> => {
  const started = Date.now();
  const batches: SampleBatch[] = [];
  try {
    for await (const b of source.fetchSamples('FUZZ:PV', new Date(fromMs), new Date(toMs))) batches.push(b);
  } catch (e) {
    if (!(e instanceof DataLoggerError)) throw new Error(`not a DataLoggerError: ${String(e)}`, { cause: e });
    return { batches, error: e, ms: Date.now() - started };
  }
  return { batches, ms: Date.now() - started };
};

beforeAll(async () => {
  server = await startScriptedArchiver();
});

afterAll(async () => {
  await server?.close();
  if (outcomes.size) console.log(`data-logger fuzz (seed ${settings.seed}):`, Object.fromEntries([...outcomes].sort()));
});

describe('data-logger answers to the Archiver Appliance source', () => {
  it('every generated answer ends in samples that keep the contract or a documented DataLoggerError, with the documented retry flag', async () => {
    const source = createArchiverApplianceSource({ baseUrl: server.url, timeoutMs: TIMEOUT_MS, maxResponseBytes: 4 * 2 ** 20 });
    const heapBefore = process.memoryUsage().heapUsed;
    await fc.assert(
      fc.asyncProperty(brokenAnswer, async (answer) => {
        server.answer = (_r, s) => answer.write(s);
        const result = await collect(source);
        if (result.error) {
          const reason = result.error.reason;
          expect(retryable[reason], `${answer.what}: ${reason} is a documented reason`).toBeDefined();
          expect(result.error.retryable).toBe(retryable[reason]);
          expect(result.error.message).toContain('FUZZ:PV');
          if (answer.status !== undefined) {
            const s = answer.status;
            const expected = s === 404 ? 'UNKNOWN_PARAMETER' : s === 400 ? 'BAD_REQUEST' : s === 408 || s === 429 || s >= 500 ? 'UNAVAILABLE' : 'REFUSED';
            expect(reason, `${answer.what}`).toBe(expected);
          }
          // A complete answer is never a time-out: each of these is answered at once.
          expect(reason, answer.what).not.toBe('TIMEOUT');
          count(`${answer.what}: ${reason}`);
        } else {
          expect(answer.status, `${answer.what} was taken as data`).toBeUndefined();
          checkBatches(result.batches, T0, T0 + WINDOW_S * 1000);
          count(`${answer.what}: samples`);
        }
      }),
      propertyParameters<[{ what: string; status?: number; write: Scripted }]>(settings),
    );
    const heapAfter = process.memoryUsage().heapUsed;
    expect(heapAfter - heapBefore).toBeLessThan(128 * 2 ** 20);
    await waitFor('the source to leave no connection open', async () => (server.openConnections() === 0 ? true : undefined), 10_000);
  }, 300_000);

  const slow: ReadonlyArray<readonly [string, Scripted, DataLoggerFailure]> = [
    ['no answer at all (the connection accepted, nothing sent)', () => undefined, 'TIMEOUT'],
    ['headers, then a body that never comes', (s) => s.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n[{'), 'TIMEOUT'],
    [
      'one byte a second',
      (s) => {
        const text = `HTTP/1.1 200 OK\r\ncontent-length: 40\r\n\r\n${emptyAnswer('FUZZ:PV')}`;
        let i = 0;
        const t = setInterval(() => (s.destroyed || i >= text.length ? clearInterval(t) : s.write(text[i++] ?? '')), 1_000);
        s.on('close', () => clearInterval(t));
      },
      'TIMEOUT',
    ],
    [
      'a body that never ends, a sample every 20 ms',
      (s) => {
        s.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n');
        const open = '[{"meta":{},"data":[';
        s.write(`${open.length.toString(16)}\r\n${open}\r\n`);
        const t = setInterval(() => {
          const sample = `{"secs":${S0 + 1},"val":1},`;
          if (!s.destroyed) s.write(`${sample.length.toString(16)}\r\n${sample}\r\n`);
        }, 20);
        s.on('close', () => clearInterval(t));
      },
      'TIMEOUT',
    ],
    [
      'a body that never ends, as fast as the socket takes it',
      (s) => {
        s.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n');
        const sample = `{"secs":${S0 + 1},"val":1},`.repeat(2_000);
        const chunk = `${Buffer.byteLength(sample).toString(16)}\r\n${sample}\r\n`;
        const pump = (): void => {
          while (!s.destroyed && s.write(chunk));
        };
        s.on('drain', pump);
        s.write(`14\r\n[{"meta":{},"data":[\r\n`);
        pump();
      },
      'BAD_RESPONSE',
    ],
  ];

  it.each(slow)('%s: ends the request by its time or size limit, bounded in time and memory', async (_what, write, reason) => {
    const source = createArchiverApplianceSource({ baseUrl: server.url, timeoutMs: TIMEOUT_MS, maxResponseBytes: 4 * 2 ** 20 });
    server.answer = (_r, s) => write(s);
    const rssBefore = process.memoryUsage().rss;
    const result = await collect(source);
    expect(result.error?.reason, String(result.error)).toBe(reason);
    expect(result.error?.retryable).toBe(retryable[reason]);
    // The time limit covers the whole answer, body included: never much past it.
    expect(result.ms).toBeLessThan(TIMEOUT_MS + 5_000);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 2 ** 20);
    await waitFor('the connection to be closed by the source', async () => (server.openConnections() === 0 ? true : undefined), 10_000);
    console.log(`data-logger slow answer: ${_what}: ${result.error?.reason} after ${result.ms} ms`);
    count(`slow: ${reason}`);
  });

  it('an absurd sample count within the size limit is delivered whole, in batches, in bounded memory', async () => {
    const samples = 200_000;
    const body = validAnswer(samples);
    const source = createArchiverApplianceSource({ baseUrl: server.url, timeoutMs: 120_000, sliceSeconds: 3_600 });
    server.answer = (_r, s) => httpAnswer(s, 200, body);
    const heapBefore = process.memoryUsage().heapUsed;
    let peak = 0;
    let delivered = 0;
    for await (const b of source.fetchSamples('FUZZ:PV', new Date(T0), new Date(T0 + WINDOW_S * 1000))) {
      delivered += b.times.length;
      peak = Math.max(peak, process.memoryUsage().heapUsed - heapBefore);
    }
    expect(delivered).toBe(samples);
    console.log(`data-logger fuzz: ${samples} samples in a ${(body.length / 2 ** 20).toFixed(1)} MiB answer; heap peak +${(peak / 2 ** 20).toFixed(0)} MiB`);
    // Held at most once, parsed: a few times the answer's size (docs/reliability.md has the figure).
    expect(peak).toBeLessThan(12 * body.length);
    count('absurd count within the limit: samples');
  }, 180_000);
});

/*
 * Whole grab runs of `daqflow up` against the scripted data logger: what a user sees when the
 * data logger misbehaves. A short request time-out (DAQFLOW_ARCHIVER_TIMEOUT_MS) and two attempts
 * keep each case to seconds.
 */
describe('grab runs of daqflow up against a misbehaving data logger', () => {
  const e2e = useE2eEnvironments('fuzz-datalogger');
  let environment: DaqflowEnvironment;
  let daqflow: DaqflowProcess;
  let nc: NatsConnection;
  let dataRoot: string;
  const inWindow = (from: string | null): boolean => from !== null && from.startsWith('2026-11-20');

  beforeAll(async () => {
    environment = await e2e.create();
    dataRoot = join(e2e.home, 'data');
    mkdirSync(dataRoot, { recursive: true });
    daqflow = await startDaqflowProcess({
      env: { ...environment.env, DAQFLOW_ARCHIVER_URL: server.url, DAQFLOW_ARCHIVER_TIMEOUT_MS: String(TIMEOUT_MS), DAQFLOW_DATA_ROOT: dataRoot, DAQFLOW_HTTP: 'none' },
    });
    nc = await connect({ servers: inject('natsUrl'), name: 'fuzz-datalogger-client' });
  }, 120_000);

  afterAll(async () => {
    await nc?.close();
    daqflow?.kill('SIGKILL');
  });

  const run = async (outDir: string): Promise<{ state: string; error?: string; progress?: { samples: number } }> => {
    const body = { parameters: ['FUZZ:PV'], startAt: '2026-11-20T00:00:00Z', stopAt: '2026-11-20T00:01:00Z', outDir, retry: { maxAttempts: 2, initialDelayMs: 100, maxDelayMs: 200 } };
    const r = await apiRequest(nc, `${environment.prefix}.grabs.start`, body, 20_000);
    if (r.kind !== 'ok') throw new Error(`grabs.start refused: ${JSON.stringify(r)}`);
    const id = String(r.body.id);
    return waitFor(
      `grab ${id} to end`,
      async () => {
        const g = await apiRequest(nc, `${environment.prefix}.grabs.get`, { id }, 5_000);
        return g.kind === 'ok' && g.body.final ? (g.body as { state: string; error?: string; progress?: { samples: number } }) : undefined;
      },
      60_000,
    );
  };

  const trickle = (s: Socket): void => {
    const text = `HTTP/1.1 200 OK\r\ncontent-length: 40\r\n\r\n${emptyAnswer('FUZZ:PV')}`;
    let i = 0;
    const t = setInterval(() => (s.destroyed || i >= text.length ? clearInterval(t) : s.write(text[i++] ?? '')), 1_000);
    s.on('close', () => clearInterval(t));
  };

  it('a data logger answering one byte a second: the run ends failed (TIMEOUT, after its attempts), nothing in the out folder, no request left open', async () => {
    server.answer = (r, s) => (inWindow(r.from) ? trickle(s) : false);
    const started = Date.now();
    const ended = await run('out/trickle');
    expect(ended.state).toBe('failed');
    expect(ended.error).toMatch(/within 1500 ms/);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(existsSync(join(dataRoot, 'out/trickle')) ? readdirSync(join(dataRoot, 'out/trickle')) : []).toEqual([]);
    await waitFor('no request left open', async () => (server.openConnections() === 0 ? true : undefined), 10_000);
    expect(daqflow.child.exitCode).toBeNull();
    count('grab: one byte a second -> failed');
  }, 90_000);

  it('a 200 cut short, then a good answer on the retry: the run completes with every sample', async () => {
    let cut = 0;
    server.answer = (r, s) => {
      if (!inWindow(r.from)) return false;
      const body = Buffer.from(validAnswer(60));
      if (cut++ === 0) {
        s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`);
        s.write(body.subarray(0, body.length >> 1), () => s.destroy());
      } else httpAnswer(s, 200, body);
      return true;
    };
    const ended = await run('out/cut-once');
    expect(ended.state, ended.error).toBe('completed');
    expect(ended.progress?.samples).toBe(60);
    expect(cut).toBe(2);
    count('grab: cut once -> completed');
  }, 90_000);

  it('malformed JSON every time: the run ends failed after its attempts, nothing in the out folder', async () => {
    server.answer = (r, s) => (inWindow(r.from) ? httpAnswer(s, 200, '[{"meta":{},"data":[{"secs":1,') : false);
    const ended = await run('out/malformed');
    expect(ended.state).toBe('failed');
    expect(ended.error).toMatch(/not complete JSON/);
    expect(existsSync(join(dataRoot, 'out/malformed')) ? readdirSync(join(dataRoot, 'out/malformed')) : []).toEqual([]);
    count('grab: malformed JSON -> failed');
  }, 90_000);

  it('an answer of the wrong shape is not retried: failed at the first attempt', async () => {
    const before = server.requests.filter((r) => inWindow(r.from)).length;
    server.answer = (r, s) => (inWindow(r.from) ? httpAnswer(s, 200, '{"not":"an array"}') : false);
    const ended = await run('out/shape');
    expect(ended.state).toBe('failed');
    expect(ended.error).toMatch(/not getData\.json's format/);
    expect(server.requests.filter((r) => inWindow(r.from)).length - before).toBe(1);
    count('grab: wrong shape -> failed, not retried');
  }, 90_000);
});
