import { connect, type Socket } from 'node:net';

/**
 * HTTP/1.1 over a bare TCP socket, for the REST shim's fuzz: any method, any bytes in the request
 * target, any body, and connections that stall or are cut, none of which node:http's or fetch's
 * clients let a test send.
 */
export interface RawReply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** Milliseconds from the first byte sent to the connection's close. */
  readonly ms: number;
}

const parseReply = (data: Buffer, ms: number): RawReply => {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no complete reply head in ${JSON.stringify(data.subarray(0, 200).toString('latin1'))}`);
  const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]);
  if (!Number.isInteger(status)) throw new Error(`not a status line: ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
  const body = data.subarray(end + 4, length === undefined ? undefined : end + 4 + length);
  return { status, headers, body, ms };
};

/** Opens a connection and resolves once it is open. */
export const openSocket = (port: number, host = '127.0.0.1'): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const socket = connect(port, host, () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });

/** Everything the server sends until it closes the connection (or `timeoutMs` passes: then rejects). */
export const readUntilClosed = (socket: Socket, timeoutMs: number): Promise<{ data: Buffer; ms: number }> =>
  new Promise((resolve, reject) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not close the connection within ${timeoutMs} ms (got ${Buffer.concat(chunks).length} bytes)`));
    }, timeoutMs);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), ms: Date.now() - started });
    });
  });

/** One request on a connection of its own (`connection: close`); the reply as the server sent it. */
export const rawRequest = async (
  port: number,
  request: { method: string; target: string; body?: Uint8Array | string; headers?: Record<string, string> },
  timeoutMs = 20_000,
): Promise<RawReply> => {
  const body = typeof request.body === 'string' ? Buffer.from(request.body, 'utf8') : Buffer.from(request.body ?? new Uint8Array());
  const headers = { host: '127.0.0.1', connection: 'close', 'content-length': String(body.length), ...request.headers };
  const head = Buffer.concat([
    Buffer.from(`${request.method} `, 'latin1'),
    // The target as UTF-8 bytes: a client may send anything between the spaces.
    Buffer.from(request.target, 'utf8'),
    Buffer.from(` HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`, 'latin1'),
  ]);
  const socket = await openSocket(port);
  const reply = readUntilClosed(socket, timeoutMs);
  // Not end(): node:http aborts a request whose client half-closes before the answer (as no real client does).
  socket.write(Buffer.concat([head, body]));
  const { data, ms } = await reply;
  return parseReply(data, ms);
};

/** Parses what `readUntilClosed` collected. */
export const replyOf = (data: Buffer, ms = 0): RawReply => parseReply(data, ms);
