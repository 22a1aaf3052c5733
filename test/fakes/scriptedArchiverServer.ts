/**
 * A data logger that answers whatever a test scripts, byte for byte and at the pace it wants:
 * the Archiver Appliance's failures that `archiverApplianceServer.ts` (a well-behaved appliance
 * with a few faults) cannot make. Each getData.json request is handed to the current `answer`,
 * which writes to the raw socket: any status line, a body cut short, a body that never ends, one
 * byte a second, or nothing at all. Requests `answer` leaves alone get `passThrough`.
 */
import { createServer, type Server } from 'node:net';
import type { Socket } from 'node:net';

export interface ScriptedRequest {
  readonly pv: string | null;
  readonly from: string | null;
  readonly to: string | null;
}

/** Writes an answer on `socket` (and may leave it open). Returns false to leave the request to `passThrough`. */
export type ScriptedAnswer = (request: ScriptedRequest, socket: Socket) => boolean | void;

export interface ScriptedArchiverServer {
  /** The retrieval URL, `http://127.0.0.1:<port>/retrieval`. */
  readonly url: string;
  answer: ScriptedAnswer;
  /** Requests seen, in arrival order. */
  readonly requests: ScriptedRequest[];
  /** Connections the server still holds open. */
  openConnections(): number;
  close(): Promise<void>;
}

/** A complete HTTP/1.1 answer with a content-length, then the connection closed. */
export const httpAnswer = (socket: Socket, status: number, body: string | Buffer, type = 'application/json'): void => {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  socket.end(Buffer.concat([Buffer.from(`HTTP/1.1 ${status} X\r\ncontent-type: ${type}\r\ncontent-length: ${bytes.length}\r\nconnection: close\r\n\r\n`), bytes]));
};

/** An empty but valid answer for `pv` (a describe's). */
export const emptyAnswer = (pv: string | null): string => JSON.stringify([{ meta: { name: pv, EGU: 'mA', PREC: '3' }, data: [] }]);

export const startScriptedArchiver = async (passThrough: ScriptedAnswer = (r, s) => httpAnswer(s, 200, emptyAnswer(r.pv))): Promise<ScriptedArchiverServer> => {
  const sockets = new Set<Socket>();
  const requests: ScriptedRequest[] = [];
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const target = /^GET (\S+) HTTP/.exec(head)?.[1] ?? '/';
      const url = new URL(target, 'http://archiver');
      const request = { pv: url.searchParams.get('pv'), from: url.searchParams.get('from'), to: url.searchParams.get('to') };
      requests.push(request);
      if (handle.answer(request, socket) === false) passThrough(request, socket);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  const handle: ScriptedArchiverServer = {
    url: `http://127.0.0.1:${port}/retrieval`,
    answer: () => false,
    requests,
    openConnections: () => sockets.size,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return handle;
};
