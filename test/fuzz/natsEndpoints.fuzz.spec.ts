import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Msg, NatsConnection } from '@nats-io/nats-core';
import services from '@nats-io/services';
import { connect } from '@nats-io/transport-node';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_MAX_BODY_BYTES } from '../../adapters/natsApi/requestBody.js';
import { startDaqflowProcess, type DaqflowProcess } from '../harness/daqflowProcess.js';
import { httpUrlOf, sampleSum, scrapeMetrics } from '../harness/httpEndpoints.js';
import { apiRequest, streamLastPosition, useE2eEnvironments, waitFor, waitForProjector, type DaqflowEnvironment } from '../e2e/e2eHelpers.js';
import { fuzzSettings, propertyParameters } from './fuzzSettings.js';
import { hostileBody, type BodyContext } from './natsBodies.js';
import { rssBytes } from '../harness/processTable.js';

/*
 * Every endpoint of a real `daqflow up` (JetStream store, PostgreSQL projections, the whole
 * request API) gets generated hostile bodies; docs/api.md promises a documented status and the
 * error body for each, and docs/reliability.md lists what is tried. Endpoints are discovered
 * with $SRV.INFO, so a new command is fuzzed without touching this file.
 */

const { Svcm } = services;
const settings = fuzzSettings(40);
const e2e = useE2eEnvironments('fuzz-nats');

/** The codes docs/api.md lists for refused requests; INTERNAL (a bug) is not among them. */
const documented: Readonly<Record<string, number>> = {
  INVALID_REQUEST: 400,
  VALIDATION_FAILED: 400,
  UNKNOWN_ACTOR: 404,
  UNKNOWN_ACTOR_KIND: 404,
  WRONG_STATE: 409,
  VERSION_CONFLICT: 409,
  DUPLICATE: 409,
  PROJECTIONS_BEHIND: 409,
};

interface Endpoint {
  readonly subject: string;
  readonly fields: readonly string[];
}

let nc: NatsConnection;
let daqflow: DaqflowProcess;
let environment: DaqflowEnvironment;
let endpoints: Endpoint[] = [];
const ids: string[] = [];
const outcomes = new Map<string, number>();

const heapBytes = async (): Promise<number> => sampleSum(await scrapeMetrics(httpUrlOf(daqflow)), 'nodejs_heap_size_used_bytes');

const fieldsOf = (schemaText: unknown): string[] => {
  if (typeof schemaText !== 'string') return [];
  const schema = JSON.parse(schemaText) as { properties?: Record<string, unknown> };
  return Object.keys(schema.properties ?? {});
};

const discover = async (prefix: string): Promise<Endpoint[]> => {
  const found: Endpoint[] = [];
  for await (const info of await new Svcm(nc as never).client({ strategy: 'timer', maxWait: 2_000 }).info()) {
    for (const e of info.endpoints) {
      if (!e.subject.startsWith(`${prefix}.`)) continue;
      found.push({ subject: e.subject, fields: fieldsOf(e.metadata?.request_schema) });
    }
  }
  return found.sort((a, b) => (a.subject < b.subject ? -1 : 1));
};

const okOrThrow = async (subject: string, body: unknown): Promise<Record<string, unknown>> => {
  const r = await apiRequest(nc, `${environment.prefix}.${subject}`, body, 10_000);
  if (r.kind !== 'ok') throw new Error(`${subject} ${JSON.stringify(body)}: ${JSON.stringify(r)}`);
  return r.body;
};

/**
 * Bodies every run sends besides the generated ones: text PostgreSQL's jsonb and text columns
 * refuse (NUL, lone surrogates) and header-breaking request ids, each in a body that would
 * otherwise be accepted, so that the store and the projections have to take them.
 */
const directedExamples = (endpoint: Endpoint): Array<[string]> => {
  const nasty = ['a\u0000b', '\ud800', 'x\r\nNats-Msg-Id: y'];
  const examples: Array<[string]> = [];
  for (const text of nasty) {
    if (endpoint.subject.endsWith('.demo.start')) {
      examples.push([JSON.stringify({ steps: 1, intervalMs: 0, label: text })]);
      examples.push([JSON.stringify({ steps: 1, intervalMs: 0, requestId: `${text}${Math.random()}` })]);
    }
    if (endpoint.subject.endsWith('.demo.note')) examples.push([JSON.stringify({ id: ids[1], text })]);
    if (endpoint.subject.endsWith('.demo.cancel')) examples.push([JSON.stringify({ id: ids[0], reason: text })]);
    for (const field of endpoint.fields) examples.push([JSON.stringify({ [field]: text })]);
  }
  return examples;
};

/** Checks one reply against the contract; returns its outcome label, throws what is wrong. */
const judge = (m: Msg): string => {
  const text = new TextDecoder('utf-8', { fatal: true }).decode(m.data);
  const body = JSON.parse(text) as unknown;
  expect(body, 'a reply is a JSON object').toBeTypeOf('object');
  const status = m.headers?.get('Nats-Service-Error-Code');
  if (!status) return 'ok';
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } }).error;
  expect(error, `error body of a ${status}: ${text.slice(0, 300)}`).toBeDefined();
  const code = String(error?.code);
  expect(documented[code], `${status} ${code} is a documented refusal: ${text.slice(0, 300)}`).toBe(Number(status));
  expect(error?.message).toBeTypeOf('string');
  expect(error?.details).toBeTypeOf('object');
  return `${status} ${code}`;
};

beforeAll(async () => {
  environment = await e2e.create();
  daqflow = await startDaqflowProcess({ env: { ...environment.env, DAQFLOW_HTTP: '127.0.0.1:0' } });
  nc = await connect({ servers: inject('natsUrl'), name: 'fuzz-nats-client' });
  endpoints = await discover(environment.prefix);
  // Actors to aim at: finished, cancelled and waiting demos, so that commands meet states that refuse them.
  const done = await okOrThrow('demo.start', { steps: 1, intervalMs: 0, label: 'done' });
  const waiting = await okOrThrow('demo.start', { steps: 2, intervalMs: 3_600_000, label: 'waiting' });
  const cancelled = await okOrThrow('demo.start', { steps: 2, intervalMs: 3_600_000, label: 'cancelled' });
  await okOrThrow('demo.cancel', { id: cancelled.id, reason: 'fuzz target' });
  ids.push(String(done.id), String(waiting.id), String(cancelled.id), '00000000-0000-4000-8000-000000000000', 'x');
  await waitFor('the one-step demo to complete', async () => ((await okOrThrow('demo.get', { id: done.id })).final ? true : undefined), 30_000);
}, 120_000);

afterEach((context) => {
  if (context.task.result?.state === 'fail') console.log(`daqflow stderr (tail):\n${daqflow?.stderr().slice(-4_000)}`);
});

afterAll(async () => {
  await nc?.close();
  daqflow?.kill('SIGKILL');
  if (outcomes.size) console.log(`nats fuzz (seed ${settings.seed}):`, Object.fromEntries([...outcomes].sort()));
});

describe('NATS API fuzz', () => {
  it('every endpoint answers every generated body with a documented status, while valid jobs beside it complete', async () => {
    expect(endpoints.map((e) => e.subject)).toContain(`${environment.prefix}.demo.start`);
    expect(endpoints.length).toBeGreaterThanOrEqual(15);
    // Jobs that must not notice the fuzz: a demo of several steps and an acquisition on the simulated stream.
    const beside = await okOrThrow('demo.start', { steps: 5, intervalMs: 200, label: 'beside the fuzz' });
    const acquisition = await okOrThrow('acquisitions.start', { outputFile: 'fuzz/beside.h5', startNow: true });
    const rssBefore = rssBytes(daqflow.child.pid as number);
    const heapBefore = await heapBytes();

    for (const endpoint of endpoints) {
      const ctx: BodyContext = {
        fields: [...new Set([...endpoint.fields, 'id', 'requestId'])],
        ids,
        maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
      };
      await fc.assert(
        fc.asyncProperty(hostileBody(ctx), async (body) => {
          let reply: Msg;
          try {
            reply = await nc.request(endpoint.subject, body, { timeout: 10_000 });
          } catch (e) {
            throw new Error(`${endpoint.subject}: no reply (${e instanceof Error ? e.message : String(e)})`);
          }
          const outcome = judge(reply);
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        }),
        { ...propertyParameters<[Uint8Array | string]>(settings), examples: directedExamples(endpoint) },
      );
      expect(daqflow.child.exitCode, `daqflow exited while ${endpoint.subject} was fuzzed`).toBeNull();
    }

    // The jobs beside: the demo completes, the acquisition stops with a file.
    await okOrThrow('acquisitions.stop', { id: acquisition.id, now: true });
    const ended = await waitFor(
      'the demo and the acquisition beside the fuzz to end',
      async () => {
        const d = await okOrThrow('demo.get', { id: beside.id });
        const a = await okOrThrow('acquisitions.get', { id: acquisition.id });
        return d.final && a.final ? { demo: d.state, acquisition: a.state } : undefined;
      },
      60_000,
    );
    expect(ended).toEqual({ demo: 'completed', acquisition: 'completed' });
    // Nothing accepted is lost: the projections hold every event the store took.
    await waitForProjector(environment.database, await streamLastPosition(inject('natsUrl'), environment.stream, environment.prefix), 60_000);

    const rssAfter = rssBytes(daqflow.child.pid as number);
    const heapAfter = await heapBytes();
    console.log(`nats fuzz memory: rss ${(rssBefore / 2 ** 20).toFixed(0)} -> ${(rssAfter / 2 ** 20).toFixed(0)} MiB, heap ${(heapBefore / 2 ** 20).toFixed(0)} -> ${(heapAfter / 2 ** 20).toFixed(0)} MiB`);
    // Bounded: hundreds of bodies up to the limit went through; the process keeps none of them.
    expect(rssAfter - rssBefore).toBeLessThan(256 * 2 ** 20);
    expect(heapAfter - heapBefore).toBeLessThan(128 * 2 ** 20);
    expect(daqflow.child.exitCode).toBeNull();
  }, 600_000);
});

/*
 * Defects this fuzz found, each fixed and kept here as the request that showed it: the same
 * daqflow, so each runs in milliseconds.
 */
describe('defects the NATS fuzz found', () => {
  it('a NUL or lone surrogate in a label is refused with 400 (it was stored, and the projector stopped at it for good)', async () => {
    for (const label of ['a\u0000b', '\ud800']) {
      const r = await apiRequest(nc, `${environment.prefix}.demo.start`, { steps: 1, intervalMs: 0, label }, 10_000);
      expect(r).toMatchObject({ kind: 'refused', status: '400', body: { error: { code: 'INVALID_REQUEST', details: { path: 'label' } } } });
    }
    const last = await streamLastPosition(inject('natsUrl'), environment.stream, environment.prefix);
    await waitForProjector(environment.database, last, 30_000);
  });

  it('a requestId with CR LF starts once and a retry gets the first answer (it broke the Nats-Msg-Id header: 500 INTERNAL)', async () => {
    const body = { steps: 1, intervalMs: 0, requestId: `line\r\nNats-Msg-Id: forged ${Math.random()}` };
    const first = await apiRequest(nc, `${environment.prefix}.demo.start`, body, 10_000);
    const retry = await apiRequest(nc, `${environment.prefix}.demo.start`, body, 10_000);
    expect(first.kind).toBe('ok');
    expect(retry).toMatchObject({ kind: 'ok', duplicate: true });
    expect(retry.kind === 'ok' && retry.body.id).toBe(first.kind === 'ok' && first.body.id);
  });

  it('an acquisition outputFile with a name over 255 bytes is a 400 naming the field (it was accepted, a file the file system cannot name)', async () => {
    for (const outputFile of ['a'.repeat(256), `${'d/'.repeat(2_100)}f.h5`]) {
      const r = await apiRequest(nc, `${environment.prefix}.acquisitions.start`, { outputFile, startNow: true }, 10_000);
      expect(r).toMatchObject({ kind: 'refused', status: '400', body: { error: { code: 'VALIDATION_FAILED' } } });
      expect(r.kind === 'refused' && JSON.stringify(r.body)).toMatch(/outputFile/);
    }
  });
});

/*
 * Report configurations named by `configPath`: what a YAML parser or a file read can be made to
 * do with a few bytes. Each is a 400 within the request time-out, and the process stays up.
 */
describe('report configuration files (reports.start configPath)', () => {
  const nested = (depth: number): string => `${'- '.repeat(1)}${'['.repeat(depth)}1${']'.repeat(depth)}\n`;
  const laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    .concat(Array.from({ length: 9 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`))
    .join('\n');
  const cases: ReadonlyArray<readonly [string, () => string]> = [
    ['an alias bomb (billion laughs)', () => write('laughs.yaml', laughs)],
    ['flow nesting 100 000 deep', () => write('deep-flow.yaml', nested(100_000))],
    ['block nesting 10 000 deep', () => write('deep-block.yaml', Array.from({ length: 10_000 }, (_, i) => `${'  '.repeat(i)}k:`).join('\n'))],
    ['a 5 MiB document', () => write('huge.yaml', `global: {}\n# ${'x'.repeat(5 * 2 ** 20)}\n`)],
    ['duplicate keys', () => write('dup.yaml', 'global: {}\nglobal: {}\n')],
    ['UTF-16 with a byte order mark', () => write('utf16.yaml', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('global: {}\n', 'utf16le')]))],
    ['Latin-1 bytes', () => write('latin1.yaml', Buffer.from('global: {comment: "caf\xe9"}\n', 'latin1'))],
    ['/dev/zero (defect found: it was read without end, 550 MB of RSS in 4 s)', () => '/dev/zero'],
    ['a folder', () => e2e.home],
    ['a FIFO nobody writes to (defect found: the request hung with a thread-pool thread)', () => fifo()],
  ];
  const write = (name: string, content: string | Buffer): string => {
    const path = join(e2e.home, name);
    writeFileSync(path, content);
    return path;
  };
  const fifo = (): string => {
    const path = join(e2e.home, 'config.fifo');
    if (!existsSync(path)) execFileSync('mkfifo', [path]);
    return path;
  };

  it.each(cases)('%s is a 400 in bounded time and memory', async (_what, make) => {
    const rssBefore = rssBytes(daqflow.child.pid as number);
    const r = await apiRequest(nc, `${environment.prefix}.reports.start`, { configPath: make(), mode: 'sim' }, 15_000);
    expect(r, JSON.stringify(r).slice(0, 500)).toMatchObject({ kind: 'refused', status: '400' });
    expect(daqflow.child.exitCode).toBeNull();
    expect(rssBytes(daqflow.child.pid as number) - rssBefore).toBeLessThan(128 * 2 ** 20);
  });
});
