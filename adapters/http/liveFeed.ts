import type { ServerResponse } from 'node:http';
import type { Kysely } from 'kysely';
import type { Logger } from '../../actors/runtime/logger.js';
import type { Database } from '../../projections/database.js';
import { jobsChangedAfter } from './jobQueries.js';

/** Rows one message of the feed carries at most; a larger burst comes in several messages. */
const ROWS_PER_MESSAGE = 500;
/** Batches of the projector within this time are announced together. */
const COALESCE_MS = 100;
/** A comment line this often keeps proxies from closing an idle connection. */
const KEEPALIVE_MS = 30_000;

/**
 * The status page's server-sent events: after the projector commits, the actors whose status
 * changed are read once and sent to every browser connected. An idle feed costs a keep-alive
 * comment per connection every 30 s and nothing else, however many browsers listen.
 */
export class LiveFeed {
  private readonly clients = new Set<ServerResponse>();
  private position: number;
  private pending: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private again = false;
  private readonly keepalive: NodeJS.Timeout;

  constructor(
    private readonly db: Kysely<Database>,
    startPosition: number,
    private readonly logger: Logger,
  ) {
    this.position = startPosition;
    this.keepalive = setInterval(() => this.broadcast(': keepalive\n\n'), KEEPALIVE_MS);
    this.keepalive.unref();
  }

  /** Browsers connected now. */
  get size(): number {
    return this.clients.size;
  }

  /** Takes over a response as an event stream until the browser goes or the feed closes. */
  attach(res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // The browser reconnects after this long if the connection drops; it then reloads its list.
    res.write(`retry: 2000\nevent: hello\ndata: ${JSON.stringify({ position: this.position })}\n\n`);
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
  }

  /** The projector committed up to `position`. */
  projected(position: number): void {
    if (this.clients.size === 0) {
      // Nobody listens: nothing to read; a browser that connects later loads its list anyway.
      this.position = Math.max(this.position, position);
      return;
    }
    this.pending ??= setTimeout(() => {
      this.pending = undefined;
      void this.flush();
    }, COALESCE_MS);
  }

  close(): void {
    clearInterval(this.keepalive);
    clearTimeout(this.pending);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }

  private async flush(): Promise<void> {
    if (this.flushing) {
      this.again = true;
      return;
    }
    this.flushing = (async () => {
      try {
        for (;;) {
          const rows = await jobsChangedAfter(this.db, this.position, ROWS_PER_MESSAGE);
          const last = rows[rows.length - 1];
          if (last === undefined) break;
          this.position = Number(last.position);
          this.broadcast(`event: actors\ndata: ${JSON.stringify(rows)}\n\n`);
          if (rows.length < ROWS_PER_MESSAGE) break;
        }
      } catch (e) {
        // PostgreSQL away: the next committed batch (after it is back) tries again from here.
        this.logger.debug({ err: e }, 'live feed could not read the changed actors');
      }
    })();
    await this.flushing;
    this.flushing = undefined;
    if (this.again) {
      this.again = false;
      await this.flush();
    }
  }

  private broadcast(text: string): void {
    for (const res of this.clients) res.write(text);
  }
}
