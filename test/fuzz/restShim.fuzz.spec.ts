import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { startWriterRestShim, type WriterRestShim } from '../../adapters/restShim/writerRestShim.js';
import { apiRequest, useE2eEnvironments, waitFor, type DaqflowEnvironment } from '../e2e/e2eHelpers.js';
import { startDaqflowProcess, type DaqflowProcess } from '../harness/daqflowProcess.js';
import { fuzzSettings, propertyParameters } from './fuzzSettings.js';
import { openSocket, rawRequest, readUntilClosed, replyOf, type RawReply } from './rawHttp.js';
import { restRequest, SHIM_MAX_BODY_BYTES, type RestRequest } from './restRequests.js';
import { rssBytes } from '../harness/processTable.js';

/*
 * The REST shim of a real `daqflow up` (DAQFLOW_REST_PORT) gets generated requests over raw TCP:
 * every method, hostile request targets and query strings, bodies of every wrong kind (from the
 * NATS fuzz's generators, and parameters that pass the mandatory-key check with one hostile
 * field), mixed with valid calls. docs/rest-shim.md promises a documented status with the error
 * body for each, and the shim has to keep answering a well-behaved client throughout. Slow and
 * cut connections go to a second shim with short time-outs, on the same daqflow.
 */

const settings = fuzzSettings(300);
const e2e = useE2eEnvironments('fuzz-rest');

/** The refusals docs/rest-shim.md lists, by HTTP status. */
const documented: Readonly<Record<number, readonly string[]>> = {
  400: ['INVALID_REQUEST', 'VALIDATION_FAILED'],
  404: ['UNKNOWN_ROUTE'],
  405: ['METHOD_NOT_ALLOWED'],
  408: ['REQUEST_TIMEOUT'],
  409: ['WRONG_STATE'],
  431: ['HEADERS_TOO_LARGE'],
};

let nc: NatsConnection;
let daqflow: DaqflowProcess;
let environment: DaqflowEnvironment;
let restPort: number;
let quick: WriterRestShim;
const outcomes = new Map<string, number>();
let files = 0;


/** Checks one reply against docs/rest-shim.md; returns its outcome label, throws what is wrong. */
const judge = (request: Pick<RestRequest, 'method'>, reply: RawReply): string => {
  const shown = `${reply.status} ${reply.body.subarray(0, 300).toString('utf8')}`;
  if (request.method === 'HEAD') {
    expect([200, 400, 404, 405], shown).toContain(reply.status);
    return `${reply.status} (HEAD)`;
  }
  expect(reply.headers['content-type'], shown).toBe('application/json');
  const body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(reply.body)) as {
    state?: unknown;
    status?: unknown;
    error?: { code?: unknown; message?: unknown; details?: unknown };
  };
  if (reply.status === 200) {
    expect(body.state, shown).toBe('ok');
    return '200';
  }
  expect(body.state, shown).toBe('error');
  expect(body.status, shown).toBeTypeOf('string');
  expect(documented[reply.status], `${reply.status} is a documented status: ${shown}`).toBeDefined();
  expect(documented[reply.status], `${reply.status} ${String(body.error?.code)} is documented: ${shown}`).toContain(body.error?.code);
  expect(body.error?.message).toBeTypeOf('string');
  expect(body.error?.details).toBeTypeOf('object');
  return `${reply.status} ${String(body.error?.code)}`;
};

const count = (outcome: string): void => {
  outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
};

/** A well-behaved client: GET /status answers 200 while the others misbehave. */
const statusAnswers = async (port: number): Promise<void> => {
  const reply = await rawRequest(port, { method: 'GET', target: '/status' }, 15_000);
  expect(reply.status, reply.body.toString()).toBe(200);
};

const okOrThrow = async (subject: string, body: unknown): Promise<Record<string, unknown>> => {
  const r = await apiRequest(nc, `${environment.prefix}.${subject}`, body, 10_000);
  if (r.kind !== 'ok') throw new Error(`${subject} ${JSON.stringify(body)}: ${JSON.stringify(r)}`);
  return r.body;
};

beforeAll(async () => {
  environment = await e2e.create();
  daqflow = await startDaqflowProcess({ env: { ...environment.env, DAQFLOW_HTTP: 'none', DAQFLOW_REST_PORT: '0' } });
  const url = /^ {2}rest {6}(http:\/\/\S+)/m.exec(daqflow.stdout())?.[1];
  if (!url) throw new Error(`daqflow up printed no rest line:\n${daqflow.stdout()}`);
  restPort = Number(new URL(url).port);
  nc = await connect({ servers: inject('natsUrl'), name: 'fuzz-rest-client' });
  // The shim speaks to daqflow only over NATS, so a second one with short time-outs can stand beside it.
  quick = await startWriterRestShim({ nc, subjectPrefix: environment.prefix, port: 0, headersTimeoutMs: 1_000, receiveTimeoutMs: 2_000 });
}, 120_000);

afterEach((context) => {
  if (context.task.result?.state === 'fail') console.log(`daqflow stderr (tail):\n${daqflow?.stderr().slice(-4_000)}`);
});

afterAll(async () => {
  await quick?.close(500);
  await nc?.close();
  daqflow?.kill('SIGKILL');
  if (outcomes.size) console.log(`rest shim fuzz (seed ${settings.seed}):`, Object.fromEntries([...outcomes].sort()));
});

describe('REST shim fuzz', () => {
  it('every generated request gets a documented status and error body, a well-behaved client is answered throughout, and an acquisition beside completes', async () => {
    const beside = await okOrThrow('acquisitions.start', { outputFile: 'fuzz/beside-rest.h5', startNow: true });
    const pid = daqflow.child.pid as number;
    const rssBefore = rssBytes(pid);
    let cases = 0;

    await fc.assert(
      fc.asyncProperty(
        restRequest(() => `fuzz/rest-${process.pid}-${files++}.h5`),
        async (request) => {
          const reply = await rawRequest(restPort, request).catch((e: unknown) => {
            throw new Error(`${request.method} ${request.target.slice(0, 100)}: no reply (${e instanceof Error ? e.message : String(e)})`);
          });
          count(judge(request, reply));
          if (++cases % 25 === 0) await statusAnswers(restPort);
        },
      ),
      propertyParameters<[RestRequest]>(settings),
    );
    expect(daqflow.child.exitCode, 'daqflow up exited during the fuzz').toBeNull();
    await statusAnswers(restPort);

    await okOrThrow('acquisitions.stop', { id: beside.id, now: true });
    const state = await waitFor(
      'the acquisition beside the fuzz to end',
      async () => {
        const a = await okOrThrow('acquisitions.get', { id: beside.id });
        return a.final ? a.state : undefined;
      },
      60_000,
    );
    expect(state).toBe('completed');
    const rssAfter = rssBytes(pid);
    console.log(`rest shim fuzz: ${cases} requests, rss ${(rssBefore / 2 ** 20).toFixed(0)} -> ${(rssAfter / 2 ** 20).toFixed(0)} MiB`);
    expect(rssAfter - rssBefore).toBeLessThan(256 * 2 ** 20);
  }, 600_000);
});

describe('slow and cut connections', () => {
  it('a client that sends its headers and then stalls gets 408 within the receive time-out; others are answered meanwhile', async () => {
    const socket = await openSocket(quick.port);
    const closed = readUntilClosed(socket, 20_000);
    socket.write('POST /parameters HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"general/');
    await statusAnswers(quick.port);
    const { data, ms } = await closed;
    const reply = replyOf(data, ms);
    expect(judge({ method: 'POST' }, reply)).toBe('408 REQUEST_TIMEOUT');
    count('slow: 408 after a stalled body');
  });

  it('slowloris: 40 connections trickling header bytes are all cut by the headers time-out, while others are answered', async () => {
    const sockets = await Promise.all(Array.from({ length: 40 }, () => openSocket(quick.port)));
    const closed = sockets.map((s) => readUntilClosed(s, 20_000));
    const header = 'GET /status HTTP/1.1\r\nhost: x\r\nx-a: ';
    let sent = 0;
    const trickle = setInterval(() => {
      for (const s of sockets) if (!s.destroyed) s.write(header[sent] ?? 'a');
      sent++;
    }, 100);
    try {
      for (let i = 0; i < 5; i++) await statusAnswers(quick.port);
      const results = await Promise.all(closed);
      // Each cut without ever being served a reply to its never-finished request, or with a 408.
      for (const { data } of results) if (data.length) expect(replyOf(data).status).toBe(408);
    } finally {
      clearInterval(trickle);
    }
    count('slow: slowloris connections cut');
  });

  it('a body cut short leaves the shim serving; the shim closes (nothing waits on the gone client)', async () => {
    const shim = await startWriterRestShim({ nc, subjectPrefix: environment.prefix, port: 0, headersTimeoutMs: 1_000, receiveTimeoutMs: 2_000 });
    for (let i = 0; i < 20; i++) {
      const socket = await openSocket(shim.port);
      socket.write(`POST /parameters HTTP/1.1\r\nhost: x\r\ncontent-length: 5000\r\n\r\n{"general/created": "${'x'.repeat(i * 50)}`);
      await new Promise((r) => setTimeout(r, 5));
      socket.destroy();
    }
    await statusAnswers(shim.port);
    const started = Date.now();
    // With a request still waiting on one of those bodies, close() would wait its whole grace.
    await shim.close(10_000);
    expect(Date.now() - started).toBeLessThan(5_000);
    count('cut: bodies cut short');
  });

  it('a chunked body that never ends is refused at the body limit and the connection closed; memory stays bounded', async () => {
    const pid = daqflow.child.pid as number;
    const rssBefore = rssBytes(pid);
    const socket = await openSocket(restPort);
    const closed = readUntilClosed(socket, 30_000);
    socket.write('POST /parameters HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n');
    const chunk = `10000\r\n${'x'.repeat(0x10000)}\r\n`;
    let written = 0;
    // Keeps sending until the server hangs up (or 64 MiB, far past the 64 KiB limit).
    while (!socket.destroyed && written < 1_024) {
      if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r).once('close', r));
      written++;
    }
    const { data, ms } = await closed;
    expect(written, 'the server hung up long before 64 MiB').toBeLessThan(1_024);
    if (data.length) expect(judge({ method: 'POST' }, replyOf(data, ms))).toBe('400 INVALID_REQUEST');
    expect(rssBytes(pid) - rssBefore).toBeLessThan(64 * 2 ** 20);
    await statusAnswers(restPort);
    count('huge: endless chunked body');
    expect(SHIM_MAX_BODY_BYTES).toBe(64 * 1024);
  });

  it('the shim of daqflow up cuts a client that never finishes its headers by its default time-out (it was 60 s)', async () => {
    const socket = await openSocket(restPort);
    const closed = readUntilClosed(socket, 30_000);
    socket.write('GET /status HTTP/1.1\r\nhost: x\r\n');
    const { data, ms } = await closed;
    expect(ms).toBeLessThan(30_000);
    expect(replyOf(data, ms).status).toBe(408);
    count('slow: headers stalled on daqflow up');
  }, 40_000);

  it('headers over node:http limit are a 431 with the error body', async () => {
    const reply = await rawRequest(restPort, { method: 'GET', target: '/status', headers: { 'x-big': 'a'.repeat(20_000) } });
    expect(judge({ method: 'GET' }, reply)).toBe('431 HEADERS_TOO_LARGE');
  });
});

/* Defects this fuzz found, each fixed and kept here as the request that showed it. */
describe('defects the REST shim fuzz found', () => {
  const required = { 'general/created': 'c', 'general/user': 'u', 'general/process': 'p', 'general/instrument': 'i' };

  it('a request target that is no URL (http://[) is a 400 (it was never answered: the client waited for good)', async () => {
    const reply = await rawRequest(quick.port, { method: 'GET', target: 'http://[' }, 10_000);
    expect(judge({ method: 'GET' }, reply)).toBe('400 INVALID_REQUEST');
  });

  it('parameters nested 20 000 deep are a 400 (they were stored, then a 500 INTERNAL on that and every later GET /parameters)', async () => {
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const body = `${JSON.stringify(required).slice(0, -1)},"x":${deep}}`;
    const reply = await rawRequest(quick.port, { method: 'POST', target: '/parameters', body });
    expect(judge({ method: 'POST' }, reply)).toBe('400 INVALID_REQUEST');
    const after = await rawRequest(quick.port, { method: 'GET', target: '/parameters' });
    expect(judge({ method: 'GET' }, after)).toBe('200');
  });

  it('parameters that are not UTF-8 are a 400 (they were taken with U+FFFD in place of the bytes, bound for the file)', async () => {
    const body = Buffer.concat([Buffer.from(`${JSON.stringify(required).slice(0, -1)},"output_file":"caf`), Buffer.from([0xe9]), Buffer.from('.h5"}')]);
    const reply = await rawRequest(quick.port, { method: 'POST', target: '/parameters', body });
    expect(judge({ method: 'POST' }, reply)).toBe('400 INVALID_REQUEST');
  });
});
