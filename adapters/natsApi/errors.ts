import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { headers as natsHeaders } from '@nats-io/nats-core';
import type { ServiceHandler, ServiceMsg } from '@nats-io/services';
import type { Logger } from '../../actors/runtime/logger.js';
import { isDaqflowError, type ErrorCode } from '../../events/errors.js';
import { DEFAULT_MAX_BODY_BYTES, parseRequestBody, type RequestBody } from './requestBody.js';

/** The status numbers the NATS request API contract allows in `Nats-Service-Error-Code`. */
export type ApiStatus = 400 | 404 | 409 | 500;

/**
 * The one place where daqflow error codes become service error codes. It is a full Record so
 * that a new ErrorCode does not compile until someone decides its reply here.
 *
 * STORE_UNAVAILABLE is 503 inside daqflow but the API contract (docs/api.md) names only 400/404/409/500,
 * so clients see 500 with `code: "STORE_UNAVAILABLE"` and `details.retryable: true`: the status
 * set stays closed and the body still tells a retrying client what happened.
 */
export const apiErrorTable: Readonly<Record<ErrorCode, { readonly status: ApiStatus; readonly retryable: boolean }>> = {
  INVALID_REQUEST: { status: 400, retryable: false },
  VALIDATION_FAILED: { status: 400, retryable: false },
  UNKNOWN_ACTOR: { status: 404, retryable: false },
  UNKNOWN_ACTOR_KIND: { status: 404, retryable: false },
  WRONG_STATE: { status: 409, retryable: false },
  VERSION_CONFLICT: { status: 409, retryable: true },
  DUPLICATE: { status: 409, retryable: false },
  // Both arise where daqflow is a client of NATS (a login, a publish the server refused, a
  // stream that differs), not in a handler; were one to reach a reply, the server is at fault.
  PERMISSION_DENIED: { status: 500, retryable: false },
  STREAM_MISMATCH: { status: 500, retryable: false },
  PROJECTIONS_BEHIND: { status: 409, retryable: true },
  STORE_UNAVAILABLE: { status: 500, retryable: true },
  REPLAY_INCOMPATIBLE: { status: 500, retryable: false },
  INTERNAL: { status: 500, retryable: false },
};

/** The body of every failed reply: `{"error":{"code","message","details"}}`. */
export interface ApiErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly details: Record<string, unknown> };
}

/** A failed request's reply: the service error status and the JSON body. */
export interface ApiErrorReply {
  readonly status: ApiStatus;
  readonly body: ApiErrorBody;
}

/**
 * Turns anything thrown by a handler into its reply. Only DaqflowErrors speak for themselves;
 * anything else is a bug or a library failure whose message and stack may carry internals, so
 * the client gets a generic message plus an `errorId` that finds the full error in the log.
 */
export const toErrorReply = (e: unknown, logger: Logger, context: Record<string, unknown> = {}): ApiErrorReply => {
  if (isDaqflowError(e)) {
    const row = apiErrorTable[e.code] ?? apiErrorTable.INTERNAL;
    const details: Record<string, unknown> = row.retryable ? { ...e.details, retryable: true } : { ...e.details };
    if (row.status === 500) {
      const errorId = randomUUID();
      logger.error({ err: e, errorId, ...context }, `request failed: ${e.code}`);
      details.errorId = errorId;
    } else {
      logger.debug({ code: e.code, message: e.message, ...context }, 'request refused');
    }
    return { status: row.status, body: { error: { code: e.code, message: e.message, details } } };
  }
  const errorId = randomUUID();
  logger.error({ err: e, errorId, ...context }, 'request failed with an unexpected error');
  return {
    status: 500,
    body: { error: { code: 'INTERNAL', message: 'internal error', details: { errorId } } },
  };
};

// Header values may not hold CR or LF (nats.js throws), and a header is no place for a novel.
const headerText = (message: string): string => {
  const line = message.replace(/[\r\n]+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 297)}...` : line || 'error';
};

// pg returns int8 as string but a driver or projection might hand over a bigint; JSON.stringify
// throws on those, and a query reply should not fail for it.
const jsonReplacer = (_key: string, value: unknown): unknown => (typeof value === 'bigint' ? value.toString() : value);

/** Serializes a reply body; bigints become strings. */
export const encodeJson = (value: unknown): string => JSON.stringify(value, jsonReplacer);

/**
 * Sends an error reply with the service error headers. Returns false when it could not be sent
 * (no reply subject, or the connection is gone); it never throws.
 */
export const respondWithError = (msg: ServiceMsg, reply: ApiErrorReply, logger: Logger): boolean => {
  try {
    let body: string;
    try {
      body = encodeJson(reply.body);
    } catch {
      // Details that do not serialize (a cycle) must not cost the client its answer.
      const { code, message } = reply.body.error;
      body = encodeJson({ error: { code, message, details: {} } });
    }
    return msg.respondError(reply.status, headerText(reply.body.error.message), body);
  } catch (e) {
    logger.error({ err: e, subject: msg.subject }, 'error reply could not be sent');
    return false;
  }
};

/** What an endpoint's work answers: the JSON body and optional extra headers. */
export interface JsonReply {
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** The work behind one endpoint: a parsed body in, a reply out; it may throw. */
export type EndpointWork = (body: RequestBody, msg: ServiceMsg) => Promise<JsonReply>;

/**
 * Our own per-endpoint counters, reported as `data` in `$SRV.STATS`. The library counts an
 * error only when a handler throws synchronously and times only the synchronous part of a
 * handler, so for async handlers that reply with respondError its num_errors stays 0 and its
 * processing_time near 0; these numbers are the real ones.
 */
export interface EndpointCounters {
  errors: number;
  errorsByStatus: Record<string, number>;
  lastError?: string;
  processingMs: number;
  inFlight: number;
}

/**
 * The error boundary of a service: wraps endpoint work into a service handler that always
 * replies (JSON, or the error headers and body) and never throws or leaves a promise floating,
 * whatever the body or the work does. Keeps the counters for `$SRV.STATS` and the requests in
 * flight, so that a stop can wait for them.
 */
export class RequestGuard {
  private readonly counters = new Map<string, EndpointCounters>();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly logger: Logger,
    private readonly maxBodyBytes = DEFAULT_MAX_BODY_BYTES,
  ) {}

  /** A service handler for `subject` that runs `work` behind the error boundary. */
  handler(subject: string, work: EndpointWork): ServiceHandler {
    const counters = this.countersOf(subject);
    return (err, msg) => {
      if (err) {
        // The library closes the service itself on a subscription error; we only say why.
        this.logger.error({ err, subject }, 'service subscription failed');
        return;
      }
      const started = performance.now();
      counters.inFlight++;
      const run = this.serve(msg, subject, work, counters).finally(() => {
        counters.inFlight--;
        counters.processingMs += performance.now() - started;
        this.inFlight.delete(run);
      });
      this.inFlight.add(run);
    };
  }

  /** Counters of an endpoint, as `$SRV.STATS` reports them in `data`. */
  statsFor(subject: string): EndpointCounters {
    const c = this.countersOf(subject);
    return { ...c, errorsByStatus: { ...c.errorsByStatus }, processingMs: Math.round(c.processingMs * 1000) / 1000 };
  }

  /** Waits for the requests in flight, at most `graceMs`. */
  async settle(graceMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
    ]);
    clearTimeout(timer);
  }

  private countersOf(subject: string): EndpointCounters {
    let c = this.counters.get(subject);
    if (!c) {
      c = { errors: 0, errorsByStatus: {}, processingMs: 0, inFlight: 0 };
      this.counters.set(subject, c);
    }
    return c;
  }

  // Never rejects: every path ends in a reply attempt, and a failed reply is logged.
  private async serve(msg: ServiceMsg, subject: string, work: EndpointWork, counters: EndpointCounters): Promise<void> {
    try {
      const body = parseRequestBody(msg.data, this.maxBodyBytes);
      const reply = await work(body, msg);
      const encoded = encodeJson(reply.body);
      let h: ReturnType<typeof natsHeaders> | undefined;
      for (const [name, value] of Object.entries(reply.headers ?? {})) {
        h ??= natsHeaders();
        h.set(name, value);
      }
      // respond() throws when the reply is over the server's max_payload: that becomes a 500.
      // Cast: the library types the options with its own nats-core prerelease; the connection
      // that sends them is 3.4's, which only calls headers.encode().
      const opts = (h ? { headers: h } : undefined) as Parameters<ServiceMsg['respond']>[1];
      if (!msg.respond(encoded, opts)) {
        this.logger.debug({ subject }, 'request had no reply subject; nothing sent');
      }
    } catch (e) {
      try {
        const reply = toErrorReply(e, this.logger, { subject });
        counters.errors++;
        counters.errorsByStatus[reply.status] = (counters.errorsByStatus[reply.status] ?? 0) + 1;
        counters.lastError = `${reply.body.error.code}: ${reply.body.error.message}`.slice(0, 300);
        respondWithError(msg, reply, this.logger);
      } catch (inner) {
        this.logger.error({ err: inner, subject }, 'error reply failed');
      }
    }
  }
}
