/**
 * sf_bsread_writer's REST API in front of daqflow, so that DAQ scripts written for it keep
 * working. Like that writer (one process per acquisition), the shim has one current
 * acquisition: `/parameters` names the file and the `/general` metadata, `/start_*` starts an
 * acquisition with them, `/stop_*`, `/stop` and `/kill` end it. Every call becomes a request on
 * `<prefix>.acquisitions.*`; nothing else of daqflow is touched.
 *
 * node:http rather than a framework: nine fixed routes, and the error boundary and body limit
 * are a few lines each, so a dependency would buy nothing.
 */
import { randomUUID } from 'node:crypto';
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NatsConnection } from '@nats-io/nats-core';
import { silentLogger, type Logger } from '../../actors/runtime/logger.js';
import { createAcquisitionClient, type AcquisitionClient } from './acquisitionClient.js';
import {
  lostPulsesOf,
  noParameters,
  outputFileOf,
  parseParameters,
  parsePulseId,
  ShimError,
  statisticsOf,
  statusWordOf,
  withOutputFile,
  type AcquisitionReply,
  type CurrentAcquisition,
  type StreamCounters,
  type WriterParameters,
} from './writerRestMapping.js';

export interface WriterRestShimOptions {
  readonly nc: NatsConnection;
  /** First token(s) of daqflow's subjects (`DAQFLOW_SUBJECT_PREFIX`). Default `daqflow`. */
  readonly subjectPrefix?: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Default 127.0.0.1, where sf_bsread_writer listened. */
  readonly host?: string;
  readonly logger?: Logger;
  /** Bearer token every request must carry (`Authorization: Bearer <token>`); absent, none is asked. */
  readonly token?: string;
  /** The bsread stream's counters when the shim runs beside it; shown under `statistics.stream`. */
  readonly streamCounters?: () => StreamCounters | undefined;
  /** Per NATS request. Default 5 s. */
  readonly requestTimeoutMs?: number;
  /** Largest request body. Default 64 KiB. */
  readonly maxBodyBytes?: number;
  /** How long `/stop` and `/kill` wait for the acquisition to end before answering. Default 10 s. */
  readonly endWaitMs?: number;
  /** A client must have sent its request line and headers within this time (408 and closed). Default 10 s. */
  readonly headersTimeoutMs?: number;
  /** ... and its whole body within this time (408 and closed). Default 30 s. */
  readonly receiveTimeoutMs?: number;
}

/** Compares in constant time, so that the answer's timing does not spell the token out. */
const bearerMatches = (header: string | undefined, token: string): boolean => {
  const given = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
  if (given === undefined) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
};

const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || host.startsWith('127.');

export interface WriterRestShim {
  /** e.g. `http://127.0.0.1:8888`. */
  readonly url: string;
  readonly port: number;
  /** Stops taking requests and waits (at most `graceMs`) for those being answered. */
  close(graceMs?: number): Promise<void>;
}

type Reply = Record<string, unknown>;

interface Route {
  readonly method: 'GET' | 'POST' | 'PUT';
  /** The path's first segment; a route with `param` takes exactly one more. */
  readonly name: string;
  readonly param?: true;
  readonly handle: (request: { param: string | undefined; body: string }) => Promise<Reply>;
}

const parseJsonBody = (text: string, route: string): unknown => {
  if (text.trim() === '') return undefined;
  const depth = jsonNestingOf(text);
  if (depth > MAX_JSON_NESTING) {
    // JSON.parse takes it, but JSON.stringify of the echoed parameters overflowed the stack (a 500, again on every GET /parameters).
    throw new ShimError(400, 'INVALID_REQUEST', `${route}: the body is nested ${depth} deep, more than ${MAX_JSON_NESTING}`, { limit: MAX_JSON_NESTING });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ShimError(400, 'INVALID_REQUEST', `${route}: the body is not valid JSON`);
  }
};

// fatal: invalid UTF-8 is refused, not turned into U+FFFD inside a file name or the /general metadata.
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A client that went away before its body was complete: nobody is left to answer. */
class ClientGone extends Error {
  override readonly name = 'ClientGone';
}

const readBody = (req: IncomingMessage, limit: number): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) {
        settled = true;
        reject(new ShimError(400, 'INVALID_REQUEST', `the request body is larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (settled) return;
      settled = true;
      try {
        resolve(utf8.decode(Buffer.concat(chunks)));
      } catch {
        reject(new ShimError(400, 'INVALID_REQUEST', 'the request body is not valid UTF-8'));
      }
    });
    req.on('error', (e) => {
      if (settled) return;
      settled = true;
      reject(new ClientGone(`the client went away before its body was complete (${e.message})`, { cause: e }));
    });
  });

/** Deeper JSON is refused: sf_bsread_writer's parameters are a flat object. */
export const MAX_JSON_NESTING = 64;

/** How deep `text`'s arrays and objects nest, counted without parsing (brackets inside strings do not count). */
export const jsonNestingOf = (text: string): number => {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
};

/** The path of a request target; one that is no URL (`http://[`) is a 400, not an unanswered request. */
const pathOf = (target: string): string => {
  try {
    return new URL(target, 'http://shim').pathname;
  } catch {
    throw new ShimError(400, 'INVALID_REQUEST', 'the request target is not a valid URL', { target: target.slice(0, 200) });
  }
};

/** What node:http's parser and time-outs refused, as an HTTP status and the shim's error body. */
const clientErrorReply = (code: string | undefined): [number, string, string, string] => {
  switch (code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, 'Request Timeout', 'REQUEST_TIMEOUT', 'the request was not received in time'];
    case 'HPE_HEADER_OVERFLOW':
      return [431, 'Request Header Fields Too Large', 'HEADERS_TOO_LARGE', 'the request headers are too large'];
    default:
      return [400, 'Bad Request', 'INVALID_REQUEST', `the request is not valid HTTP (${code ?? 'unknown'})`];
  }
};

export const startWriterRestShim = async (options: WriterRestShimOptions): Promise<WriterRestShim> => {
  const logger = options.logger ?? silentLogger;
  const host = options.host ?? '127.0.0.1';
  const maxBodyBytes = options.maxBodyBytes ?? 64 * 1024;
  const endWaitMs = options.endWaitMs ?? 10_000;
  const daqflow: AcquisitionClient = createAcquisitionClient(options.nc, options.subjectPrefix ?? 'daqflow', options.requestTimeoutMs ?? 5_000);

  let parameters: WriterParameters = noParameters;
  let current: CurrentAcquisition | null = null;

  // Commands run one at a time: two starts racing must not both see "nothing running", and a
  // stop must act on the acquisition the previous start made.
  let queue: Promise<unknown> = Promise.resolve();
  const serialized = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work, work);
    queue = run.catch(() => undefined);
    return run;
  };

  /** The current acquisition as daqflow sees it now; null when there is none (or daqflow forgot it). */
  const currentView = async (): Promise<AcquisitionReply | null> => {
    if (!current) return null;
    try {
      return await daqflow.get(current.id);
    } catch (e) {
      // Its events are gone (a wiped stream): as far as anyone can tell, nothing is running.
      if (e instanceof ShimError && e.status === 404) return null;
      throw e;
    }
  };

  const statusOf = (view: AcquisitionReply | null): Reply => ({
    status: statusWordOf(view?.state ?? null),
    acquisition_id: current?.id ?? null,
    daqflow_state: view?.state ?? null,
    ...(view?.error ? { daqflow_error: view.error } : {}),
    // Pulses the ring buffer overtook the writer for: written as missing rows, the file is still complete.
    ...(view?.lostPulses ? { lost_pulses: lostPulsesOf(view.lostPulses) } : {}),
  });

  const ok = (view: AcquisitionReply | null, extra: Reply = {}): Reply => ({ state: 'ok', ...statusOf(view), ...extra });

  const start = (bound: { startPulseId: number } | { startNow: true }, body: string, route: string): Promise<Reply> =>
    serialized(async () => {
      let next = parameters;
      if ('startNow' in bound) {
        // Persistent mode of sf_bsread_writer: the start itself may name the next file.
        const given = parseJsonBody(body, route);
        if (given !== undefined) {
          if (typeof given !== 'object' || given === null || Array.isArray(given)) {
            throw new ShimError(400, 'INVALID_REQUEST', `${route}: the body must be a JSON object such as {"output_file": "run.h5"}`);
          }
          const file = (given as Record<string, unknown>).output_file;
          if (file !== undefined) next = withOutputFile(parameters, outputFileOf(file));
        }
      }
      const running = await currentView();
      if (running && !running.final) {
        throw new ShimError(409, 'WRONG_STATE', `acquisition ${running.id} is still ${running.state}: stop or kill it before starting another`, {
          acquisition_id: running.id,
          daqflow_state: running.state,
        });
      }
      if (next.outputFile === null) {
        throw new ShimError(
          409,
          'WRONG_STATE',
          'no output file: POST /parameters with "output_file" and the general/* keys first (or PUT /start_now with {"output_file": …})',
        );
      }
      const startTimestamp = 'startNow' in bound ? Date.now() / 1000 : null;
      const view = await daqflow.start({
        outputFile: next.outputFile,
        ...bound,
        ...(next.channels ? { channels: [...next.channels] } : {}),
        metadata: next.metadata,
        ...(next.onLoss ? { onLoss: next.onLoss } : {}),
        ...(next.node ? { node: next.node } : {}),
      });
      // Only a start that happened switches the file: a refused one leaves the parameters as they were.
      parameters = next;
      current = {
        id: view.id,
        startPulseId: 'startPulseId' in bound ? bound.startPulseId : null,
        startTimestamp,
        stopTimestamp: null,
      };
      logger.info({ id: view.id, outputFile: view.outputFile, route }, 'acquisition started through the REST shim');
      return ok(view, { output_file: view.outputFile, start_pulse_id: view.startPulseId });
    });

  const requireCurrent = (route: string): CurrentAcquisition => {
    if (!current) throw new ShimError(409, 'WRONG_STATE', `${route}: no acquisition was started; PUT /start_pulse_id/<id> or /start_now first`);
    return current;
  };

  const stop = (bound: { stopPulseId: number } | { now: true }, route: string): Promise<Reply> =>
    serialized(async () => {
      const target = requireCurrent(route);
      const view = await daqflow.stop(target.id, bound);
      if ('now' in bound) target.stopTimestamp = Date.now() / 1000;
      return ok(view, { stop_pulse_id: view.stopPulseId });
    });

  // `/stop` and `/kill` ended sf_bsread_writer whatever it was doing, so they are not refused
  // when nothing is running: they only make sure nothing is. Its `/stop` joined the writer
  // before answering; waiting for the final state keeps "stop, then start the next" scripts working.
  const end = (act: (id: string) => Promise<AcquisitionReply>): Promise<Reply> =>
    serialized(async () => {
      let view = await currentView();
      if (!current || !view || view.final) return ok(view);
      view = await act(current.id);
      const deadline = Date.now() + endWaitMs;
      while (!view.final && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        view = await daqflow.get(view.id);
      }
      return ok(view);
    });

  const routes: readonly Route[] = [
    { method: 'GET', name: 'status', handle: async () => ok(await currentView()) },
    {
      method: 'GET',
      name: 'statistics',
      handle: async () => {
        const view = await currentView();
        return ok(view, { statistics: statisticsOf(current, view, options.streamCounters?.()) });
      },
    },
    { method: 'GET', name: 'parameters', handle: async () => ok(await currentView(), { parameters: parameters.raw }) },
    {
      method: 'POST',
      name: 'parameters',
      handle: ({ body }) =>
        serialized(async () => {
          parameters = parseParameters(parseJsonBody(body, 'POST /parameters'));
          const view = await currentView();
          // Parameters were the first call to a fresh sf_bsread_writer process, which said
          // `waiting`: once the last acquisition has ended, they begin the next one the same way.
          if (!view?.final) return ok(view, { parameters: parameters.raw });
          current = null;
          return ok(null, { parameters: parameters.raw });
        }),
    },
    {
      method: 'PUT',
      name: 'start_pulse_id',
      param: true,
      handle: ({ param, body }) => start({ startPulseId: parsePulseId(param, 'start_pulse_id') }, body, 'PUT /start_pulse_id'),
    },
    { method: 'PUT', name: 'start_now', handle: ({ body }) => start({ startNow: true }, body, 'PUT /start_now') },
    {
      method: 'PUT',
      name: 'stop_pulse_id',
      param: true,
      handle: ({ param }) => stop({ stopPulseId: parsePulseId(param, 'stop_pulse_id') }, 'PUT /stop_pulse_id'),
    },
    { method: 'PUT', name: 'stop_now', handle: () => stop({ now: true }, 'PUT /stop_now') },
    {
      method: 'GET',
      name: 'stop',
      handle: () =>
        end(async (id) => {
          const view = await daqflow.stop(id, { now: true });
          if (current) current.stopTimestamp = Date.now() / 1000;
          return view;
        }),
    },
    { method: 'GET', name: 'kill', handle: () => end((id) => daqflow.kill(id, 'GET /kill on the REST shim')) },
  ];

  const send = (res: ServerResponse, status: number, body: Reply, headers: Record<string, string> = {}): void => {
    if (res.headersSent || res.destroyed) return;
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  };

  // The error shape of sf_bsread_writer ({state: "error", status: <text>}) plus daqflow's own.
  const sendError = (res: ServerResponse, e: unknown, context: Record<string, unknown>): void => {
    let error: ShimError;
    if (e instanceof ShimError) {
      error = e;
      if (error.status === 500) logger.error({ err: e, ...context }, `REST shim request failed: ${error.code}`);
    } else {
      const errorId = randomUUID();
      logger.error({ err: e, errorId, ...context }, 'REST shim request failed with an unexpected error');
      error = new ShimError(500, 'INTERNAL', 'internal error', { errorId });
    }
    send(
      res,
      error.status,
      { state: 'error', status: error.message, error: { code: error.code, message: error.message, details: error.details } },
      error.status === 405 ? { allow: String(error.details.allow) } : {},
    );
  };

  const inFlight = new Set<Promise<void>>();

  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    let path = req.url ?? '/';
    try {
      // Read every body, even one a route ignores, so that a keep-alive connection stays usable.
      const body = await readBody(req, maxBodyBytes).catch((e: unknown) => {
        // The rest of a refused body is not read: the connection is closed after the answer.
        if (e instanceof ShimError) res.setHeader('connection', 'close');
        throw e;
      });
      path = pathOf(path);
      if (options.token !== undefined && !bearerMatches(req.headers.authorization, options.token)) {
        throw new ShimError(401, 'UNAUTHORIZED', 'this REST shim needs `Authorization: Bearer <token>` with its DAQFLOW_REST_TOKEN', {});
      }
      // One trailing slash is forgiven (`/status/`); any other empty segment is no route.
      const [, name, param, ...rest] = (path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path).split('/');
      const candidates = routes.filter((r) => r.name === name);
      if (candidates.length === 0 || rest.length > 0 || (param !== undefined && !candidates.some((r) => r.param))) {
        throw new ShimError(404, 'UNKNOWN_ROUTE', `no route ${method} ${path}; the routes are those of sf_bsread_writer (docs/rest-shim.md)`, {
          method,
          path,
        });
      }
      const route = candidates.find((r) => r.method === method);
      if (!route) {
        const allow = candidates.map((r) => r.method).join(', ');
        throw new ShimError(405, 'METHOD_NOT_ALLOWED', `${method} ${path} is not allowed; use ${allow}`, { allow });
      }
      const reply = await route.handle({ param, body });
      logger.debug({ method, path }, 'REST shim request answered');
      send(res, 200, reply);
    } catch (e) {
      if (e instanceof ClientGone) {
        logger.debug({ err: e, method, path }, 'REST shim client went away');
        return;
      }
      sendError(res, e, { method, path });
    }
  };

  const headersTimeoutMs = options.headersTimeoutMs ?? 10_000;
  const receiveTimeoutMs = Math.max(options.receiveTimeoutMs ?? 30_000, headersTimeoutMs);
  // node:http's own defaults cut a stalled client only after 60 s (headers) and 300 s (body), checked every 30 s.
  const server = createServer(
    {
      headersTimeout: headersTimeoutMs,
      requestTimeout: receiveTimeoutMs,
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(headersTimeoutMs / 4))),
    },
    (req, res) => {
      const run = serve(req, res)
        .catch((e: unknown) => {
          logger.error({ err: e }, 'REST shim reply failed');
          // Never leave a client waiting on an answer that will not come.
          if (!res.writableEnded) res.destroy();
        })
        .finally(() => inFlight.delete(run));
      inFlight.add(run);
    },
  );
  // A client that sends garbage, stalls or goes away is its own problem, never the process's.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    logger.debug({ err }, 'REST shim client error');
    const [status, reason, code, message] = clientErrorReply(err.code);
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const text = JSON.stringify({ state: 'error', status: message, error: { code, message, details: {} } });
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
    );
  });

  await new Promise<void>((resolve, reject) => {
    const failed = (e: Error): void => reject(e);
    server.once('error', failed);
    server.listen(options.port, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  server.on('error', (e) => logger.error({ err: e }, 'REST shim server error'));
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info({ url, subjectPrefix: options.subjectPrefix ?? 'daqflow', token: options.token !== undefined }, 'sf_bsread_writer REST shim listening');
  if (options.token === undefined && !isLoopback(host)) {
    logger.warn({ url }, 'the REST shim listens beyond loopback without a token: anyone who reaches it can start and stop acquisitions (set DAQFLOW_REST_TOKEN)');
  }

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    close: (graceMs = 5_000) =>
      (closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([Promise.allSettled([...inFlight]), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
        clearTimeout(timer);
        server.closeAllConnections();
        await closed;
      })()),
  };
};
