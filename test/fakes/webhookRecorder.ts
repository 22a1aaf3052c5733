import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedPost {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: unknown;
  /** The status it was answered with. */
  readonly status: number;
}

export interface WebhookRecorder {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Every POST so far, in arrival order. */
  posts(path?: string): RecordedPost[];
  /** Answers the next `n` POSTs to `path` with `status`; later ones with 200. */
  failNext(path: string, n: number, status?: number): void;
  /** Holds the answer to the next POST to `path` for `ms` (it is recorded when it arrives). */
  delayNext(path: string, ms: number): void;
  close(): Promise<void>;
}

/** A loopback HTTP server that records webhook posts, as a chat server's incoming webhook would take them. */
export const startWebhookRecorder = async (): Promise<WebhookRecorder> => {
  const posts: RecordedPost[] = [];
  const faults = new Map<string, { n: number; status: number }>();
  const delays = new Map<string, number>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const fault = faults.get(path);
      const status = fault && fault.n > 0 ? fault.status : 200;
      if (fault && fault.n > 0) fault.n--;
      let body: unknown = Buffer.concat(chunks).toString('utf8');
      try {
        body = JSON.parse(body as string);
      } catch {
        // not JSON: kept as text
      }
      posts.push({ path, headers: req.headers, body, status });
      const delay = delays.get(path) ?? 0;
      delays.delete(path);
      setTimeout(() => {
        if (!res.destroyed) res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'scripted failure');
      }, delay);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    posts: (path) => posts.filter((p) => path === undefined || p.path === path),
    failNext: (path, n, status = 500) => faults.set(path, { n, status }),
    delayNext: (path, ms) => delays.set(path, ms),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
};
