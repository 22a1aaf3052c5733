import { performance } from 'node:perf_hooks';
import { headers as natsHeaders } from '@nats-io/nats-core';
import type { ServiceHandler, ServiceMsg } from '@nats-io/services';
import type { Logger } from '../../actors/runtime/logger.js';
import { encodeJson, respondWithError, toErrorReply } from './errors.js';
import { DEFAULT_MAX_BODY_BYTES, parseRequestBody, type RequestBody } from './requestBody.js';

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
