import { createRequire } from 'node:module';
import { dirname, isAbsolute, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import { fastify, type FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { z } from 'zod';
import type { Logger } from '../../actors/runtime/logger.js';
import { getActorStatus } from '../../projections/actorStatus.projection.js';
import { actorHistory } from '../../projections/actorTransition.projection.js';
import { exportParameterStatistics, queryStatistics } from '../../projections/grabStatistics.queries.js';
import type { Daqflow } from '../app/startDaqflow.js';
import { DaqflowError } from '../../events/errors.js';
import type { HttpAddress } from '../config/config.js';
import { jobFacets, listJobs, reportSites, statisticsParameters } from './jobQueries.js';
import { LiveFeed } from './liveFeed.js';
import { escapeHtml, pageShell } from './pageShell.js';
import { withTimeout } from '../withTimeout.js';

/** `/readyz` is unready while the projector is more than this many events behind the stream. */
export const READY_MAX_LAG_EVENTS = 1_000;
/** Rows of the job list sent with the page itself; the page asks for as many (jobs.js). */
const FIRST_PAGE_ROWS = 200;
/** How long a readiness check waits for PostgreSQL or NATS to answer. */
const READY_PROBE_MS = 1_000;

export interface HttpServerOptions {
  readonly daqflow: Pick<Daqflow, 'db' | 'metrics' | 'health' | 'bsread' | 'onProjected' | 'projector'>;
  readonly address: HttpAddress;
  /** Files under it are served at /files/ (HDF5 files, report sites). */
  readonly dataRoot: string;
  readonly logger: Logger;
}

export interface HttpServer {
  /** e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  readonly feed: LiveFeed;
  close(): Promise<void>;
}

const assetsDir = fileURLToPath(new URL('./assets', import.meta.url));
const uplotDir = dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'));

const jobQuery = z.strictObject({
  kind: z.string().min(1).max(100).optional(),
  state: z.string().min(1).max(100).optional(),
  q: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(1_000).optional(),
  offset: z.coerce.number().int().min(0).max(10_000_000).optional(),
});
const statisticsQuery = z.strictObject({
  parameter: z.string().min(1).max(500),
  from: z.string().datetime({ offset: true }).optional(),
  to: z.string().datetime({ offset: true }).optional(),
});

const parse = <T>(schema: z.ZodType<T>, value: unknown): T => {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(query)'}: ${i.message}`);
    throw new DaqflowError('INVALID_REQUEST', `bad query: ${problems.join('; ')}`);
  }
  return parsed.data;
};


/** A file a job names, with its /files/ link when it lies inside the data root. */
interface FileLink {
  readonly label: string;
  readonly path: string;
  readonly href: string | null;
}

const fileLinksOf = (summary: Record<string, unknown>, dataRoot: string): FileLink[] => {
  const named: Array<[string, unknown]> = [
    ['output file', summary.outputFile],
    ['draft', summary.draftPath],
  ];
  const report = summary.report as { dir?: unknown; index?: unknown } | null | undefined;
  if (report) named.push(['report site', report.index ?? report.dir]);
  const published = summary.published as { dir?: unknown } | null | undefined;
  if (published) named.push(['published report', published.dir]);
  return named
    .filter((entry): entry is [string, string] => typeof entry[1] === 'string' && entry[1].length > 0)
    .map(([label, path]) => {
      const inside = relative(dataRoot, path);
      const servable = isAbsolute(path) && inside !== '' && !inside.startsWith('..') && !isAbsolute(inside);
      return { label, path, href: servable ? `/files/${inside.split(sep).map(encodeURIComponent).join('/')}` : null };
    });
};

const errorStatus: Partial<Record<string, number>> = { INVALID_REQUEST: 400, UNKNOWN_ACTOR: 404, STORE_UNAVAILABLE: 503 };

const directoryPage = (dirs: ReadonlyArray<{ href: string; name: string }>, files: ReadonlyArray<{ href: string; name: string; stats: { size: number } }>): string =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Files · daqflow</title><link rel="stylesheet" href="/assets/style.css"></head>` +
  `<body><a class="skip" href="#main">Skip to content</a><header><nav aria-label="daqflow"><span class="brand">daqflow</span><ul><li><a href="/">Jobs</a></li><li><a href="/reports">Reports</a></li><li><a href="/files/">Files</a></li></ul></nav></header>` +
  `<main id="main" tabindex="-1"><h1>Files</h1><ul class="files">` +
  dirs.map((d) => `<li><a href="${escapeHtml(d.href)}/">${escapeHtml(d.name)}/</a></li>`).join('') +
  files.map((f) => `<li><a href="${escapeHtml(f.href)}">${escapeHtml(f.name)}</a> <span class="muted">${f.stats.size} bytes</span></li>`).join('') +
  `</ul></main></body></html>`;

/**
 * The operator's window on `daqflow up`: the status pages and their JSON API, the live feed,
 * `/metrics`, `/healthz` and `/readyz`. Listening fails with a message naming DAQFLOW_HTTP.
 */
export const startHttpServer = async (options: HttpServerOptions): Promise<HttpServer> => {
  const { daqflow, dataRoot, logger } = options;
  const { db, metrics } = daqflow;
  const app: FastifyInstance = fastify({ logger: false, forceCloseConnections: true });
  const feed = new LiveFeed(db, daqflow.projector.position(), logger);
  const unsubscribe = daqflow.onProjected((report) => feed.projected(report.position));

  app.addHook('onResponse', (request, reply, done) => {
    // The route pattern, not the URL: ids and file paths would make a label per request.
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpRequest(route, request.method, reply.statusCode, reply.elapsedTime / 1_000);
    done();
  });
  app.setErrorHandler((error, request, reply) => {
    if (error instanceof DaqflowError) {
      void reply.code(errorStatus[error.code] ?? 500).send({ error: { code: error.code, message: error.message } });
      return;
    }
    const status = (error as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      void reply.code(status).send({ error: { code: 'INVALID_REQUEST', message: (error as Error).message } });
      return;
    }
    // A query that failed because PostgreSQL is away is the common case here.
    logger.warn({ err: error, url: request.url }, 'HTTP request failed');
    void reply.code(503).send({ error: { code: 'STORE_UNAVAILABLE', message: 'the projections cannot be read now; try again' } });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no page at ${request.url}` } });
  });

  await app.register(fastifyStatic, { root: assetsDir, prefix: '/assets/', wildcard: false, cacheControl: true, maxAge: 60_000 });
  await app.register(fastifyStatic, {
    root: dataRoot,
    prefix: '/files/',
    decorateReply: false,
    index: ['index.html'],
    list: { format: 'html', render: directoryPage },
  });
  // uPlot is served under /assets/ like the pages' own files, from the package as installed.
  app.get('/assets/uPlot.iife.min.js', (_request, reply) => reply.sendFile('uPlot.iife.min.js', uplotDir));
  app.get('/assets/uPlot.min.css', (_request, reply) => reply.sendFile('uPlot.min.css', uplotDir));

  const html = (body: string) => (_request: unknown, reply: { type(t: string): { send(b: string): unknown } }) =>
    reply.type('text/html; charset=utf-8').send(body);
  // The list's first page rides along with the page: the first screen then waits for one request
  // instead of three in a row (page, scripts, API). Without PostgreSQL the page loads the usual way
  // and says what went wrong.
  app.get('/', async (_request, reply) => {
    const first = await withTimeout(listJobs(db, { limit: FIRST_PAGE_ROWS }), READY_PROBE_MS).then(
      (page) => ({ ...page, position: daqflow.projector.position() }),
      () => undefined,
    );
    return reply.type('text/html; charset=utf-8').send(pageShell('jobs', 'Jobs', {}, first));
  });
  app.get('/statistics', html(pageShell('statistics', 'Statistics')));
  app.get('/reports', html(pageShell('reports', 'Report sites')));
  app.get<{ Params: { id: string } }>('/jobs/:id', (request, reply) =>
    reply.type('text/html; charset=utf-8').send(pageShell('job', `Job ${request.params.id}`, { id: request.params.id })),
  );

  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const [postgres, lag] = await Promise.all([
      withTimeout(sql`select 1`.execute(db), READY_PROBE_MS).then(
        () => true,
        () => false,
      ),
      withTimeout(metrics.projectorLag(), READY_PROBE_MS).catch(() => null),
    ]);
    const nats = daqflow.health().nats.available && lag !== null;
    const caughtUp = lag !== null && lag <= READY_MAX_LAG_EVENTS;
    const ready = nats && postgres && caughtUp;
    return reply.code(ready ? 200 : 503).send({
      ready,
      nats: { available: nats },
      postgres: { available: postgres },
      projector: { lagEvents: lag, maxLagEvents: READY_MAX_LAG_EVENTS },
    });
  });
  app.get('/metrics', async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  app.get('/api/jobs', async (request) => {
    const query = parse(jobQuery, request.query);
    const page = await listJobs(db, {
      ...(query.kind ? { kind: query.kind } : {}),
      ...(query.state ? { state: query.state } : {}),
      ...(query.q ? { text: query.q } : {}),
      ...(query.limit ? { limit: query.limit } : {}),
      ...(query.offset ? { offset: query.offset } : {}),
    });
    return { ...page, position: daqflow.projector.position() };
  });
  app.get('/api/facets', () => jobFacets(db));
  app.get<{ Params: { id: string } }>('/api/jobs/:id', async (request) => {
    const id = request.params.id;
    const [status, transitions] = await Promise.all([getActorStatus(db, undefined, id), actorHistory(db, id)]);
    if (!status) throw new DaqflowError('UNKNOWN_ACTOR', `no job ${id} in the projections`);
    return { status, transitions, files: fileLinksOf(status.summary, dataRoot) };
  });
  app.get('/api/bsread', () => {
    const { address, mode, receiver, buffer } = daqflow.bsread.counters();
    return {
      address,
      mode,
      receiver: { received: receiver.received, malformed: receiver.malformed, byReason: receiver.byReason, missingPulses: receiver.missingPulses, lastPulseId: receiver.lastPulseId ?? null },
      buffer,
    };
  });
  app.get('/api/statistics/parameters', () => statisticsParameters(db));
  app.get('/api/statistics', async (request) => {
    const query = parse(statisticsQuery, request.query);
    return exportParameterStatistics(db, query.parameter, {
      ...(query.from ? { from: query.from } : {}),
      ...(query.to ? { to: query.to } : {}),
    });
  });
  app.get('/api/statistics/rows', async (request) => {
    const query = parse(statisticsQuery, request.query);
    return queryStatistics(db, { parameter: query.parameter, limit: 1_000 });
  });
  app.get('/api/reports', async () =>
    (await reportSites(db)).map((row) => ({ id: row.id, state: row.state, updatedAt: row.updated_at, title: row.summary.title ?? null, files: fileLinksOf(row.summary, dataRoot) })),
  );
  app.get('/api/feed', (request, reply) => {
    reply.hijack();
    feed.attach(reply.raw);
    metrics.httpRequest('/api/feed', request.method, 200, 0);
  });

  try {
    await app.listen({ host: options.address.host, port: options.address.port });
  } catch (e) {
    unsubscribe();
    feed.close();
    await app.close();
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'the port is in use' : code === 'EADDRNOTAVAIL' ? 'no such address on this machine' : (e as Error).message;
    throw new DaqflowError(
      'VALIDATION_FAILED',
      `cannot serve HTTP on ${options.address.host}:${options.address.port}: ${why} (set DAQFLOW_HTTP to another host:port, :0 for any free port, or none)`,
    );
  }
  // listen() names the first address; with a host given it is that one.
  const port = (app.server.address() as { port: number }).port;
  const host = options.address.host.includes(':') ? `[${options.address.host}]` : options.address.host;
  const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`;
  return {
    url,
    feed,
    close: async () => {
      unsubscribe();
      feed.close();
      await app.close();
    },
  };
};
