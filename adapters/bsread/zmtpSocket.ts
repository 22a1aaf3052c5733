/**
 * A receive-only ZeroMQ PULL or SUB socket speaking ZMTP 3.0 (rfc.zeromq.org/spec/23, NULL
 * security) over a Node TCP or Unix socket, for the bsread receiver's hot path.
 *
 * Why not zeromq.js here: it hands each part of a message over as a JS Buffer of its own
 * (a native allocation, a copy and a finalizer per part). A bsread pulse of 200 scalar channels
 * is 402 parts, and on the bench a PULL that only counted tops out near 2 kHz, 445 us a
 * message, on that alone. Here the kernel reads into 1 MiB slabs, 64 KiB a read, and
 * parts are subarrays of them; a part cut by a read gets a buffer of its own (read in place by
 * the kernel when more than 16 KB of it is still to come), from the caller's `framePool` if it
 * has one (see framePool.ts: new memory is dear on a VM). zeromq.js stays the fallback (`DAQFLOW_BSREAD_RECEIVER=zeromq`) and the sending side.
 *
 * What it does, as libzmq would for a connecting PULL/SUB: connect, greet as ZMTP 3.0 (so a
 * 3.1 peer speaks 3.0 to it: subscriptions as messages, no heartbeats needed; PINGs are
 * answered all the same), exchange READY with the socket type, check the peer is PUSH (for
 * PULL) or PUB/XPUB (for SUB), subscribe to everything, then deliver whole multipart messages.
 * A message cut by a disconnect is dropped (libzmq never delivers part of one). A lost or
 * refused connection is retried every `reconnectIntervalMs`, logged once per outage and kind of
 * failure (how many attempts failed is told when the connection is back). A peer that accepts
 * the connection but does not complete the handshake within `handshakeTimeoutMs` is dropped, as
 * libzmq drops it after its handshake interval.
 * Back-pressure as a receive high-water mark: past that many undelivered messages, reading
 * stops until `receive()` takes them, so the kernel's window fills and the sender's own HWM
 * decides (PUSH waits, PUB drops), as with libzmq.
 */
import { connect, type Socket } from 'node:net';
import type { Logger } from '../../actors/runtime/logger.js';
import { silentLogger } from '../../actors/runtime/logger.js';
import { messageOf } from '../../events/errors.js';
import type { FramePool } from './framePool.js';

export type ZmtpSocketType = 'pull' | 'sub';

export interface ZmtpSocketOptions {
  /** `tcp://host:port` or `ipc:///path/to/socket` (not `ipc://@name`, see parseZmtpEndpoint). */
  readonly address: string;
  readonly type: ZmtpSocketType;
  /** Undelivered whole messages before reading pauses. Default 100. */
  readonly receiveHighWaterMark?: number;
  /** Default 100 ms, libzmq's. */
  readonly reconnectIntervalMs?: number; // ten times that after a refused handshake
  /** Largest frame accepted; a larger one is a protocol error (the connection is dropped). Default 1 GiB. */
  readonly maxFrameBytes?: number;
  /** From the TCP connection to the peer's READY. Default 30 s, libzmq's ZMQ_HANDSHAKE_IVL. */
  readonly handshakeTimeoutMs?: number;
  /** Called each time a connection has completed the handshake. */
  readonly onConnect?: () => void;
  /**
   * Where the buffers of frames cut by a read come from, when at least the pool's `minBytes`.
   * Without one, each is a new allocation; with one, the caller gives them back when done.
   */
  readonly framePool?: FramePool;
  readonly logger?: Logger;
}

export interface ZmtpSocketCounters {
  /** Connections that completed the handshake. */
  readonly connections: number;
  /** Connections lost or refused (including handshake failures). */
  readonly disconnects: number;
  /** Handshakes refused, malformed or not completed in time. */
  readonly handshakeErrors: number;
  /** Established connections dropped for a protocol error (a frame over the limit, a malformed command). */
  readonly protocolErrors: number;
  /** Messages dropped because the connection ended in the middle of them. */
  readonly truncatedMessages: number;
  readonly connected: boolean;
}

export interface ZmtpSocket {
  /** The next whole message, as its parts; rejects with ZmtpClosedError once closed. */
  receive(): Promise<Buffer[]>;
  readonly closed: boolean;
  counters(): ZmtpSocketCounters;
  close(): void;
}

export class ZmtpClosedError extends Error {
  override readonly name = 'ZmtpClosedError';
  constructor() {
    super('socket closed');
  }
}

export class ZmtpAddressError extends Error {
  override readonly name = 'ZmtpAddressError';
}

type Endpoint = { readonly host: string; readonly port: number } | { readonly path: string };

/** The endpoints this socket can connect to; anything else is for zeromq.js (inproc, pgm, ws…). */
export const parseZmtpEndpoint = (address: string): Endpoint => {
  const tcp = /^tcp:\/\/(\[[^\]]+\]|[^:/[\]]+):(\d{1,5})$/.exec(address);
  if (tcp) {
    const host = tcp[1]!.replace(/^\[|\]$/g, '');
    const port = Number(tcp[2]);
    if (host === '*' || port < 1 || port > 65535) throw new ZmtpAddressError(`cannot connect to ${address}: a host and a port 1-65535 are needed`);
    return { host, port };
  }
  const ipc = /^ipc:\/\/(.+)$/.exec(address);
  if (ipc) {
    // libzmq's ipc://@name is a Linux abstract socket bound under the name's exact length. Node's
    // net (v20) connects to '\0name' with the whole 108-byte sun_path, NUL-padded, which to the
    // kernel is another name: the connect is refused. Only libzmq can reach these.
    if (ipc[1]!.startsWith('@')) throw new ZmtpAddressError(`${address}: an abstract socket (ipc://@name) cannot be read without zeromq.js; set DAQFLOW_BSREAD_RECEIVER=zeromq`);
    return { path: ipc[1]! };
  }
  throw new ZmtpAddressError(`${address}: only tcp://host:port and ipc://path are read without zeromq.js (set DAQFLOW_BSREAD_RECEIVER=zeromq for other transports)`);
};

const FLAG_MORE = 0x01;
const FLAG_LONG = 0x02;
const FLAG_COMMAND = 0x04;
const GREETING_BYTES = 64;
/** Reads go into slabs of this size... */
const SLAB_BYTES = 1024 * 1024;
/** ...this much a read (a new slab when less is free). */
const MIN_READ = 64 * 1024;
/** A frame body with more than this still to come is read in place (see the parser state). */
const BIG_BODY = 16 * 1024;

const greeting = (): Buffer => {
  const g = Buffer.alloc(GREETING_BYTES);
  g[0] = 0xff;
  g[9] = 0x7f;
  g[10] = 3; // major
  g[11] = 0; // minor: 3.0, see the header
  g.write('NULL', 12, 'ascii');
  return g; // as-server = 0 and the filler are zeros
};

const shortFrame = (flags: number, body: Buffer): Buffer => {
  if (body.length > 255) throw new RangeError('short frame only');
  return Buffer.concat([Buffer.from([flags, body.length]), body]);
};

const command = (name: string, data: Buffer): Buffer => shortFrame(FLAG_COMMAND, Buffer.concat([Buffer.from([name.length]), Buffer.from(name, 'ascii'), data]));

const readyCommand = (type: ZmtpSocketType): Buffer => {
  const key = Buffer.from('Socket-Type', 'ascii');
  const value = Buffer.from(type === 'pull' ? 'PULL' : 'SUB', 'ascii');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(value.length);
  return command('READY', Buffer.concat([Buffer.from([key.length]), key, len, value]));
};

/** Properties of a READY command's body after its name (ZMTP 3.0 §"The READY command"). */
export const parseReadyProperties = (data: Buffer): Map<string, Buffer> => {
  const props = new Map<string, Buffer>();
  let at = 0;
  while (at < data.length) {
    const nameLength = data[at]!;
    if (at + 1 + nameLength + 4 > data.length) throw new Error('READY property cut short');
    const name = data.toString('ascii', at + 1, at + 1 + nameLength);
    at += 1 + nameLength;
    const valueLength = data.readUInt32BE(at);
    at += 4;
    if (at + valueLength > data.length) throw new Error(`READY property ${name} cut short`);
    props.set(name.toLowerCase(), data.subarray(at, at + valueLength));
    at += valueLength;
  }
  return props;
};

/** Unreachable or lost; handshake refused or malformed; no handshake in time; a protocol error after it. */
type FailureKind = 'link' | 'handshake' | 'timeout' | 'protocol';

const PEER_TYPES: Record<ZmtpSocketType, readonly string[]> = { pull: ['PUSH'], sub: ['PUB', 'XPUB'] };

class HandshakeError extends Error {
  override readonly name = 'HandshakeError';
}

class HandshakeTimeoutError extends Error {
  override readonly name = 'HandshakeTimeoutError';
}

export class ZmtpFrameTooLargeError extends Error {
  override readonly name = 'ZmtpFrameTooLargeError';
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`frame of ${bytes} bytes exceeds the limit ${limit}`);
  }
}

export const createZmtpSocket = (options: ZmtpSocketOptions): ZmtpSocket => {
  const endpoint = parseZmtpEndpoint(options.address);
  const logger = options.logger ?? silentLogger;
  const hwm = options.receiveHighWaterMark ?? 100;
  const reconnectMs = options.reconnectIntervalMs ?? 100;
  const maxFrame = options.maxFrameBytes ?? 1024 ** 3;
  const handshakeMs = options.handshakeTimeoutMs ?? 30_000;

  const queue: Buffer[][] = [];
  let queueHead = 0;
  let waiter: { resolve: (parts: Buffer[]) => void; reject: (e: Error) => void } | undefined;
  let closed = false;
  let socket: Socket | undefined;
  let paused = false;
  let reconnectTimer: NodeJS.Timeout | undefined;
  /**
   * The slab of a connection that never carried a frame, for the next attempt. A peer that is
   * not there is tried every `reconnectIntervalMs`: a new 1 MiB slab each time was 10 MiB/s of
   * external memory for nothing, and V8 answered it with a full GC about every second (an idle
   * daqflow at 6 % of a core instead of 2 %).
   */
  let spareSlab: Buffer | undefined;
  let connections = 0;
  let disconnects = 0;
  let handshakeErrors = 0;
  let protocolErrors = 0;
  let truncatedMessages = 0;
  let connected = false;
  /**
   * Failures are logged once per outage and kind, not once per 100 ms retry: per kind, since a
   * peer that closes in the handshake may name why (a wrong socket type) only on a later try.
   */
  const loggedThisOutage = new Set<FailureKind>();
  /** How many attempts failed is told at the end of the outage. */
  let disconnectsBeforeOutage = 0;

  const queued = (): number => queue.length - queueHead;

  const deliver = (parts: Buffer[]): void => {
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w.resolve(parts);
      return;
    }
    queue.push(parts);
    if (!paused && queued() >= hwm && socket) {
      paused = true;
      socket.pause();
    }
  };

  const connectOnce = (): void => {
    if (closed) return;
    // Parser state of this connection. Reads land in a slab, one after the other; frames are
    // views of it, so a frame header cut by a read is completed by the next read in place. A
    // body longer than BIG_BODY that did not fit gets a buffer of its own and the kernel reads
    // the rest straight into it (an image is copied once, by the kernel, as zeromq.js does).
    let phase: 'greeting' | 'ready' | 'frames' = 'greeting';
    let slab = spareSlab ?? Buffer.allocUnsafeSlow(SLAB_BYTES);
    spareSlab = undefined;
    let slabUsed = 0; // bytes of the slab filled by reads
    let parsed = 0; // bytes of the slab parsed (slab[parsed, slabUsed) is an unfinished header)
    let body: { buffer: Buffer; filled: number; flags: number } | undefined; // a frame body straddling reads
    let readingIntoBody = false;
    let parts: Buffer[] = [];
    let ended = false;
    let refusedByPeer = false;
    let tcpConnected = false;
    let handshakeTimer: NodeJS.Timeout | undefined;
    /** Why this connection ended, logged when it has. */
    let failure: { kind: FailureKind; level: 'warn' | 'error'; msg: string; error: string } | undefined;

    const fail = (error: Error): void => {
      if (ended) return;
      if (phase !== 'frames') {
        handshakeErrors++;
        // A peer that refuses (or says nothing) will do so again: retry ten times slower.
        refusedByPeer = true;
        failure =
          error instanceof HandshakeTimeoutError
            ? { kind: 'timeout', level: 'warn', msg: `bsread: ${error.message}; retrying`, error: error.message }
            : { kind: 'handshake', level: 'error', msg: `bsread: ZMTP handshake with ${options.address} failed; retrying`, error: error.message };
      } else {
        protocolErrors++;
        failure =
          error instanceof ZmtpFrameTooLargeError
            ? { kind: 'protocol', level: 'error', msg: `bsread: ${error.message} (from ${options.address}); reconnecting`, error: error.message }
            : { kind: 'protocol', level: 'error', msg: `bsread: protocol error from ${options.address}; reconnecting`, error: error.message };
      }
      s.destroy();
    };

    const onCommand = (bodyBytes: Buffer): void => {
      const nameLength = bodyBytes[0] ?? 0;
      const name = bodyBytes.toString('ascii', 1, 1 + nameLength);
      const data = bodyBytes.subarray(1 + nameLength);
      if (phase === 'ready') {
        if (name === 'ERROR') throw new HandshakeError(`the peer refused the connection: ${data.toString('utf8', 1, 1 + (data[0] ?? 0))}`);
        if (name !== 'READY') throw new HandshakeError(`expected READY from the peer, got ${JSON.stringify(name)}`);
        const peerType = parseReadyProperties(data).get('socket-type')?.toString('ascii') ?? '(none)';
        if (!PEER_TYPES[options.type].includes(peerType)) {
          throw new HandshakeError(`a ${options.type.toUpperCase()} socket cannot read from a ${peerType} socket (it needs ${PEER_TYPES[options.type].join(' or ')}): check DAQFLOW_BSREAD_MODE`);
        }
        phase = 'frames';
        clearTimeout(handshakeTimer);
        connections++;
        connected = true;
        if (loggedThisOutage.size > 0) logger.info({ address: options.address, failedAttempts: disconnects - disconnectsBeforeOutage }, 'bsread: connected again');
        loggedThisOutage.clear();
        options.onConnect?.();
        // ZMTP 3.0 subscription: a message whose first byte is 1, then the prefix (empty: all).
        if (options.type === 'sub') s.write(shortFrame(0, Buffer.from([1])));
        return;
      }
      if (name === 'PING') {
        // Reply PONG with the ping's context (after its 2-byte TTL).
        s.write(command('PONG', data.subarray(2)));
        return;
      }
      if (name === 'ERROR') throw new HandshakeError(`the peer sent ERROR: ${data.toString('utf8', 1, 1 + (data[0] ?? 0))}`);
      // Other commands (PONG, SUBSCRIBE echoes, …) mean nothing to a reader.
    };

    const onFrame = (flags: number, frame: Buffer): void => {
      if (flags & FLAG_COMMAND) {
        onCommand(frame);
        return;
      }
      if (phase !== 'frames') throw new HandshakeError('a message before the handshake ended');
      parts.push(frame);
      if (!(flags & FLAG_MORE)) {
        const whole = parts;
        parts = [];
        deliver(whole);
      }
    };

    /** Checks as much of the peer's greeting as has arrived. */
    const checkGreeting = (g: Buffer): void => {
      if (g.length >= 10 && (g[0] !== 0xff || (g[9]! & 0x01) !== 1)) throw new HandshakeError('the peer is not a ZMTP 3 socket (no ZMTP signature)');
      if (g.length >= 11 && g[10]! < 3) throw new HandshakeError(`the peer speaks ZMTP revision ${g[10]} (libzmq 3.x or older); set DAQFLOW_BSREAD_RECEIVER=zeromq`);
      if (g.length < 32) return;
      const mechanism = g.toString('ascii', 12, 32).replace(/\0+$/, '');
      if (mechanism !== 'NULL') throw new HandshakeError(`the peer wants the ${mechanism} security mechanism; daqflow reads NULL (unsecured) streams only`);
    };

    const finishBody = (): void => {
      const done = body!;
      body = undefined;
      onFrame(done.flags, done.buffer);
    };

    /** Parses slab[parsed, slabUsed) as far as whole frames (or the start of a long body) go. */
    const parse = (): void => {
      let at = parsed;
      const length = slabUsed;
      if (body) {
        // A short rest of a body, read into the slab: copy it over.
        const take = Math.min(body.buffer.length - body.filled, length - at);
        slab.copy(body.buffer, body.filled, at, at + take);
        body.filled += take;
        at += take;
        parsed = at;
        if (body.filled < body.buffer.length) return;
        finishBody();
      }
      if (phase === 'greeting') {
        const available = slab.subarray(at, length);
        checkGreeting(available);
        if (available.length < GREETING_BYTES) return;
        phase = 'ready';
        at += GREETING_BYTES;
      }
      while (at < length) {
        const flags = slab[at]!;
        let size: number;
        let headerBytes: number;
        if (flags & FLAG_LONG) {
          if (at + 9 > length) break;
          size = slab.readUInt32BE(at + 1) * 0x1_0000_0000 + slab.readUInt32BE(at + 5);
          headerBytes = 9;
        } else {
          if (at + 2 > length) break;
          size = slab[at + 1]!;
          headerBytes = 2;
        }
        if (size > maxFrame) throw new ZmtpFrameTooLargeError(size, maxFrame);
        const start = at + headerBytes;
        const end = start + size;
        if (end > length) {
          // A frame cut by a read gets a buffer of its own: from the frame pool when it is big
          // enough for it (new memory is what a VM charges most for). The pool's buffers are
          // shared memory, which a writer thread reads without a copy (framePins.ts); a new
          // SharedArrayBuffer costs 2-3 times the copy it saves, so only pooled ones are.
          const pool = options.framePool;
          const buffer = pool !== undefined && size >= pool.minBytes ? pool.take(size) : Buffer.allocUnsafeSlow(size);
          slab.copy(buffer, 0, start, length);
          body = { buffer, filled: length - start, flags };
          at = length;
          break;
        }
        onFrame(flags, slab.subarray(start, end));
        at = end;
      }
      parsed = at;
    };

    /** Where the next read goes: into the long body being read, else the slab's free tail. */
    const nextReadBuffer = (): Buffer => {
      if (body && body.buffer.length - body.filled >= BIG_BODY) {
        readingIntoBody = true;
        return body.buffer.subarray(body.filled);
      }
      readingIntoBody = false;
      if (slab.length - slabUsed < MIN_READ) {
        // A new slab; the unfinished header (a few bytes) moves to its start. The old slab lives
        // on as long as parts of it are referenced.
        const next = Buffer.allocUnsafeSlow(SLAB_BYTES);
        const carried = slab.copy(next, 0, parsed, slabUsed);
        slab = next;
        parsed = 0;
        slabUsed = carried;
      }
      // At most MIN_READ at a time: a read that reaches into a big frame then leaves little of it
      // to copy out of the slab, and the slab lasts for many images instead of one or two.
      return slab.subarray(slabUsed, Math.min(slab.length, slabUsed + MIN_READ));
    };

    const onRead = (n: number): boolean => {
      if (ended) return false;
      try {
        if (readingIntoBody) {
          body!.filled += n;
          if (body!.filled === body!.buffer.length) finishBody();
        } else {
          slabUsed += n;
          parse();
        }
      } catch (e) {
        fail(e instanceof Error ? e : new Error(messageOf(e)));
        return false;
      }
      return true;
    };

    const s = connect({
      ...('path' in endpoint ? { path: endpoint.path } : { host: endpoint.host, port: endpoint.port }),
      onread: { buffer: nextReadBuffer, callback: onRead },
    });
    socket = s;
    s.setNoDelay(true);

    s.on('connect', () => {
      tcpConnected = true;
      handshakeTimer = setTimeout(() => fail(new HandshakeTimeoutError(`no ZMTP handshake from ${options.address} within ${handshakeMs} ms`)), handshakeMs);
      s.write(greeting());
      s.write(readyCommand(options.type));
    });
    s.on('error', (e) => {
      const code = (e as NodeJS.ErrnoException).code ?? messageOf(e);
      failure ??=
        phase === 'frames'
          ? { kind: 'link', level: 'warn', msg: `bsread: connection to ${options.address} lost: ${code}; reconnecting`, error: messageOf(e) }
          : tcpConnected
            ? { kind: 'link', level: 'warn', msg: `bsread: ${options.address} dropped the connection during the ZMTP handshake: ${code}; retrying`, error: messageOf(e) }
            : { kind: 'link', level: 'warn', msg: `bsread: ${options.address} not reachable; retrying`, error: messageOf(e) };
    });
    s.on('close', () => {
      ended = true;
      clearTimeout(handshakeTimer);
      if (parts.length > 0 || body) truncatedMessages++;
      failure ??=
        phase === 'frames'
          ? { kind: 'link', level: 'warn', msg: `bsread: connection to ${options.address} lost: closed by the peer; reconnecting`, error: 'closed by the peer' }
          : { kind: 'link', level: 'warn', msg: `bsread: ${options.address} closed the connection during the ZMTP handshake; retrying`, error: 'closed by the peer' };
      if (!closed && !loggedThisOutage.has(failure.kind)) {
        if (loggedThisOutage.size === 0) disconnectsBeforeOutage = disconnects;
        loggedThisOutage.add(failure.kind);
        logger[failure.level]({ address: options.address, error: failure.error }, failure.msg);
      }
      disconnects++;
      connected = false;
      // No frame is a view of this slab before the frames phase: the next attempt may use it.
      if (phase !== 'frames') spareSlab = slab;
      if (socket === s) socket = undefined;
      paused = false;
      if (!closed) reconnectTimer = setTimeout(connectOnce, refusedByPeer ? reconnectMs * 10 : reconnectMs);
    });
  };

  connectOnce();

  return {
    receive: () => {
      if (queued() > 0) {
        const parts = queue[queueHead]!;
        queue[queueHead++] = undefined as unknown as Buffer[];
        if (queueHead > 1024 && queueHead * 2 > queue.length) {
          queue.splice(0, queueHead);
          queueHead = 0;
        }
        if (paused && queued() < hwm && socket) {
          paused = false;
          socket.resume();
        }
        return Promise.resolve(parts);
      }
      if (closed) return Promise.reject(new ZmtpClosedError());
      if (waiter) return Promise.reject(new Error('one receive() at a time'));
      if (paused && socket) {
        paused = false;
        socket.resume();
      }
      return new Promise<Buffer[]>((resolve, reject) => {
        waiter = { resolve, reject };
      });
    },
    get closed() {
      return closed;
    },
    counters: () => ({ connections, disconnects, handshakeErrors, protocolErrors, truncatedMessages, connected }),
    close: () => {
      if (closed) return;
      closed = true;
      clearTimeout(reconnectTimer);
      socket?.destroy();
      queue.length = 0;
      queueHead = 0;
      const w = waiter;
      waiter = undefined;
      w?.reject(new ZmtpClosedError());
    },
  };
};
