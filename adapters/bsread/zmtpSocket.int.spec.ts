import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../actors/runtime/logger.js';
import { freePort } from '../embedded/freePort.js';
import { createZmtpSocket, parseReadyProperties, parseZmtpEndpoint, ZmtpAddressError, ZmtpClosedError, type ZmtpSocket, type ZmtpSocketOptions } from './zmtpSocket.js';

// The reader against libzmq itself (zeromq.js PUSH and PUB), and against a hand-driven peer for
// what libzmq will not do on demand (a message cut by a disconnect, a PING, a non-ZMTP server).
const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

const open = (options: ZmtpSocketOptions): ZmtpSocket => {
  const socket = createZmtpSocket(options);
  closers.push(() => socket.close());
  return socket;
};

const recording = (): { logger: Logger; lines: Array<{ level: string; obj: object; msg?: string }> } => {
  const lines: Array<{ level: string; obj: object; msg?: string }> = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
};

const waitUntil = async (what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> => {
  const until = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

/** Parts of every size class a bsread message has: empty, short, the 255/256 frame-size edge, long. */
const sampleMessage = (n: number): Buffer[] => [
  Buffer.from(JSON.stringify({ htype: 'bsr_m-1.1', pulse_id: n })),
  Buffer.alloc(0),
  Buffer.alloc(255, n % 251),
  Buffer.alloc(256, (n + 1) % 251),
  Buffer.from(Float64Array.of(n, -n).buffer),
];

const bigPart = (bytes: number, seed: number): Buffer => {
  const b = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i += 4096) b[i] = (i / 4096 + seed) % 256;
  b[bytes - 1] = seed % 256;
  return b;
};

const expectParts = (got: Buffer[], want: Buffer[]): void => {
  expect(got.length).toBe(want.length);
  got.forEach((p, i) => expect(Buffer.compare(p, want[i]!), `part ${i}`).toBe(0));
};

describe('parseZmtpEndpoint', () => {
  it('takes tcp host:port (names, IPv4, bracketed IPv6) and ipc paths', () => {
    expect(parseZmtpEndpoint('tcp://camera-server:9999')).toEqual({ host: 'camera-server', port: 9999 });
    expect(parseZmtpEndpoint('tcp://127.0.0.1:1')).toEqual({ host: '127.0.0.1', port: 1 });
    expect(parseZmtpEndpoint('tcp://[::1]:9000')).toEqual({ host: '::1', port: 9000 });
    expect(parseZmtpEndpoint('ipc:///run/bsread/cam.sock')).toEqual({ path: '/run/bsread/cam.sock' });
  });

  it('refuses what it cannot connect to, pointing at the zeromq.js receiver', () => {
    expect(() => parseZmtpEndpoint('inproc://x')).toThrow(/DAQFLOW_BSREAD_RECEIVER=zeromq/);
    expect(() => parseZmtpEndpoint('tcp://*:9999')).toThrow(/a host and a port/);
    expect(() => parseZmtpEndpoint('tcp://host:70000')).toThrow(/a host and a port/);
    expect(() => parseZmtpEndpoint('camera:9999')).toThrow(/only tcp:\/\/host:port and ipc:\/\/path/);
  });

  it('refuses a Linux abstract socket (ipc://@name) rather than taking "@name" for a file', () => {
    expect(() => parseZmtpEndpoint('ipc://@bsread-cam')).toThrow(ZmtpAddressError);
    expect(() => parseZmtpEndpoint('ipc://@bsread-cam')).toThrow(/abstract socket.*DAQFLOW_BSREAD_RECEIVER=zeromq/);
    expect(parseZmtpEndpoint('ipc:///run/@cam.sock')).toEqual({ path: '/run/@cam.sock' });
  });
});

describe('the ZMTP reader against libzmq', () => {
  it('PULL from a PUSH over tcp: every part of every message as sent, in order, a 3 MB part among them', async () => {
    const push = new zmq.Push({ linger: 0 });
    await push.bind('tcp://127.0.0.1:*');
    closers.push(() => push.close());
    const pull = open({ address: push.lastEndpoint!, type: 'pull' });
    const sent: Buffer[][] = [];
    for (let n = 0; n < 200; n++) {
      const parts = n % 50 === 7 ? [...sampleMessage(n), bigPart(3 * 1024 * 1024 + 5, n)] : sampleMessage(n);
      sent.push(parts);
      await push.send(parts);
    }
    for (const want of sent) expectParts(await pull.receive(), want);
    expect(pull.counters()).toMatchObject({ connections: 1, handshakeErrors: 0, truncatedMessages: 0, connected: true });
  });

  it('SUB from a PUB over ipc: subscribed to everything once connected', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'daqflow-zmtp-'));
    closers.push(() => rmSync(dir, { recursive: true, force: true }));
    const pub = new zmq.Publisher({ linger: 0 });
    await pub.bind(`ipc://${join(dir, 'stream.sock')}`);
    closers.push(() => pub.close());
    const sub = open({ address: `ipc://${join(dir, 'stream.sock')}`, type: 'sub' });
    // A PUB drops until the subscription has arrived: send until the first one comes through.
    let n = 0;
    let first: Buffer[] | undefined;
    const got = sub.receive().then((parts) => (first = parts));
    while (first === undefined) {
      await pub.send(sampleMessage(n++));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await got;
    const firstN = JSON.parse(first[0]!.toString()).pulse_id as number;
    expectParts(first, sampleMessage(firstN));
    // From there on nothing is lost: PUB queues up to its HWM for a connected subscriber.
    for (let m = n; m < n + 100; m++) await pub.send(sampleMessage(m));
    const rest: number[] = [];
    while (rest.length < n + 100 - firstN - 1) {
      const parts = await sub.receive();
      const id = JSON.parse(parts[0]!.toString()).pulse_id as number;
      expectParts(parts, sampleMessage(id));
      rest.push(id);
    }
    expect(rest).toEqual(Array.from({ length: n + 100 - firstN - 1 }, (_, i) => firstN + 1 + i));
  });

  it('reconnects to a sender that went away and came back on the same port, logging the outage once', async () => {
    const port = await freePort();
    const address = `tcp://127.0.0.1:${port}`;
    const { logger, lines } = recording();
    const first = new zmq.Push({ linger: 0 });
    await first.bind(address);
    const pull = open({ address, type: 'pull', logger, reconnectIntervalMs: 20 });
    await first.send(sampleMessage(1));
    expectParts(await pull.receive(), sampleMessage(1));
    first.close();
    await waitUntil('the disconnect', () => !pull.counters().connected);
    const lost = pull.counters().disconnects;
    await waitUntil('a few refused retries', () => pull.counters().disconnects >= lost + 5);
    const second = new zmq.Push({ linger: 0 });
    await second.bind(address);
    closers.push(() => second.close());
    await second.send(sampleMessage(2));
    expectParts(await pull.receive(), sampleMessage(2));
    expect(pull.counters()).toMatchObject({ connections: 2, handshakeErrors: 0, connected: true });
    expect(lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(lines.filter((l) => l.msg === 'bsread: connected again')).toHaveLength(1);
  });

  it('holds back past its high-water mark, so a PUSH sender waits, and loses nothing', async () => {
    const push = new zmq.Push({ linger: 0, sendHighWaterMark: 10 });
    await push.bind('tcp://127.0.0.1:*');
    closers.push(() => push.close());
    const pull = open({ address: push.lastEndpoint!, type: 'pull', receiveHighWaterMark: 10 });
    const payload = Buffer.alloc(64 * 1024, 7); // fills the kernel's buffers in a few hundred messages
    let sent = 0;
    const sending = (async () => {
      for (; sent < 2_000; sent++) await push.send([Buffer.from(String(sent)), payload]);
    })();
    await new Promise((resolve) => setTimeout(resolve, 500));
    const sentWhileNotReading = sent;
    expect(sentWhileNotReading).toBeLessThan(2_000);
    for (let n = 0; n < 2_000; n++) {
      const parts = await pull.receive();
      expect(parts[0]!.toString()).toBe(String(n));
      expect(parts[1]!.length).toBe(payload.length);
    }
    await sending;
  });

  it('refuses a peer of the wrong socket type, says which mode to set, and keeps retrying', async () => {
    const pub = new zmq.Publisher({ linger: 0 });
    await pub.bind('tcp://127.0.0.1:*');
    closers.push(() => pub.close());
    const { logger, lines } = recording();
    const pull = open({ address: pub.lastEndpoint!, type: 'pull', logger, reconnectIntervalMs: 20 });
    await waitUntil('two refused handshakes', () => pull.counters().handshakeErrors >= 2);
    const error = lines.find((l) => l.level === 'error');
    expect((error?.obj as { error: string }).error).toMatch(/a PULL socket cannot read from a PUB socket.*DAQFLOW_BSREAD_MODE/);
    expect(pull.counters().connections).toBe(0);
  });

  it.runIf(process.platform === 'linux' && zmq.capability.ipc)('refuses, at once, a PUSH bound on an abstract socket (ipc://@name), which Node cannot reach', async () => {
    const push = new zmq.Push({ linger: 0 });
    await push.bind(`ipc://@daqflow-test-${randomUUID()}`);
    closers.push(() => push.close());
    expect(push.lastEndpoint).toMatch(/^ipc:\/\/@daqflow-test-/);
    expect(() => open({ address: push.lastEndpoint!, type: 'pull' })).toThrow(/abstract socket.*DAQFLOW_BSREAD_RECEIVER=zeromq/);
  });

  it('close() rejects a pending receive and every later one', async () => {
    const pull = open({ address: `tcp://127.0.0.1:${await freePort()}`, type: 'pull' });
    const pending = pull.receive();
    pull.close();
    await expect(pending).rejects.toBeInstanceOf(ZmtpClosedError);
    await expect(pull.receive()).rejects.toBeInstanceOf(ZmtpClosedError);
    expect(pull.closed).toBe(true);
  });
});

const zmtpGreeting = (): Buffer => {
  const greeting = Buffer.alloc(64);
  greeting[0] = 0xff;
  greeting[9] = 0x7f;
  greeting[10] = 3;
  greeting.write('NULL', 12);
  return greeting;
};

/** A READY command's body, of a socket of this type. */
const readyOf = (type: string): Buffer =>
  Buffer.concat([Buffer.from([5]), Buffer.from('READY'), Buffer.from([11]), Buffer.from('Socket-Type'), Buffer.from([0, 0, 0, type.length]), Buffer.from(type)]);
const pushReady = (): Buffer => readyOf('PUSH');

/**
 * A hand-driven ZMTP 3.0 PUSH peer: it greets, reads the reader's READY, then does as told.
 * `ready` gives the READY command it sends on its nth connection (from 0).
 */
const rawPeer = async (
  script: (peer: Socket, readerReady: Map<string, Buffer>, n: number) => void,
  ready: (n: number) => Buffer = pushReady,
): Promise<{ server: Server; address: string; pongs: Buffer[]; accepted: Socket[] }> => {
  const pongs: Buffer[] = [];
  const accepted: Socket[] = [];
  const server = createServer((peer) => {
    const n = accepted.push(peer) - 1;
    let got = Buffer.alloc(0);
    let handshaken = false;
    peer.write(zmtpGreeting());
    const readyBody = ready(n);
    peer.write(Buffer.concat([Buffer.from([0x04, readyBody.length]), readyBody]));
    peer.on('data', (chunk) => {
      got = Buffer.concat([got, chunk]);
      if (!handshaken && got.length >= 64 + 2 && got.length >= 64 + 2 + got[65]!) {
        const body = got.subarray(66, 66 + got[65]!);
        expect(body.subarray(1, 6).toString()).toBe('READY');
        handshaken = true;
        const rest = got.subarray(66 + got[65]!);
        got = Buffer.from(rest);
        script(peer, parseReadyProperties(body.subarray(6)), n);
      } else if (handshaken && got.length >= 2 && got.length >= 2 + got[1]!) {
        pongs.push(Buffer.from(got.subarray(2, 2 + got[1]!)));
        got = Buffer.from(got.subarray(2 + got[1]!));
      }
    });
    peer.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as { port: number };
  return { server, address: `tcp://127.0.0.1:${port}`, pongs, accepted };
};

const frame = (flags: number, body: Buffer): Buffer => {
  if (body.length <= 255) return Buffer.concat([Buffer.from([flags, body.length]), body]);
  const header = Buffer.alloc(9);
  header[0] = flags | 0x02;
  header.writeBigUInt64BE(BigInt(body.length), 1);
  return Buffer.concat([header, body]);
};

describe('the ZMTP reader against a hand-driven peer', () => {
  it('announces itself as PULL, answers a PING with its context, and drops a message cut by the disconnect', async () => {
    let readerType = '';
    const peer = await rawPeer((socket, ready) => {
      readerType = ready.get('socket-type')!.toString();
      const ping = Buffer.concat([Buffer.from([4]), Buffer.from('PING'), Buffer.from([0, 10]), Buffer.from('ctx-42')]);
      socket.write(frame(0x04, ping));
      // One whole message of two parts (the second long-framed), then the first part of another.
      socket.write(Buffer.concat([frame(0x01, Buffer.from('one')), frame(0x00, Buffer.alloc(300, 9)), frame(0x01, Buffer.from('cut'))]));
      setTimeout(() => socket.end(), 100);
    });
    const pull = open({ address: peer.address, type: 'pull', reconnectIntervalMs: 60_000 });
    const parts = await pull.receive();
    expect(parts.map((p) => p.length)).toEqual([3, 300]);
    expect(parts[0]!.toString()).toBe('one');
    expect(readerType).toBe('PULL');
    await waitUntil('the disconnect', () => pull.counters().disconnects === 1);
    expect(pull.counters().truncatedMessages).toBe(1);
    await waitUntil('the PONG', () => peer.pongs.length === 1);
    expect(peer.pongs[0]!.subarray(1, 5).toString()).toBe('PONG');
    expect(peer.pongs[0]!.subarray(5).toString()).toBe('ctx-42');
  });

  it('refuses a server that does not speak ZMTP, naming why, without delivering anything', async () => {
    const server = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.resume(); // so that it sees the reader hang up, and closes
      socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => server.close(resolve)));
    const { logger, lines } = recording();
    const pull = open({ address: `tcp://127.0.0.1:${(server.address() as { port: number }).port}`, type: 'pull', logger, reconnectIntervalMs: 20 });
    await waitUntil('three refused handshakes', () => pull.counters().handshakeErrors >= 3);
    // Said once, not once per retry.
    expect(lines.filter((l) => l.level === 'error').map((l) => (l.obj as { error: string }).error)).toEqual(['the peer is not a ZMTP 3 socket (no ZMTP signature)']);
    expect(pull.counters().connections).toBe(0);
  });

  it('reassembles every message whatever the reads cut: 1-byte to 200 KB slices of a stream of small, 255/256-byte and 20-70 KB parts', async () => {
    // A deterministic generator (no Math.random in tests): the same cuts on every run.
    let seed = 12345;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const messages: Buffer[][] = [];
    for (let m = 0; m < 400; m++) {
      const parts: Buffer[] = [Buffer.from(`msg ${m}`)];
      const count = 1 + next(6);
      for (let k = 0; k < count; k++) {
        const size = [0, 1, 8, 16, 255, 256, 20_000 + next(50_000)][next(7)]!;
        parts.push(Buffer.alloc(size, (m * 7 + k) % 256));
      }
      messages.push(parts);
    }
    const wire = Buffer.concat(messages.flatMap((parts) => parts.map((p, i) => frame(i < parts.length - 1 ? 0x01 : 0x00, p))));
    const peer = await rawPeer((socket) => {
      void (async () => {
        let at = 0;
        while (at < wire.length) {
          const size = [1, 2, 9, 100, 4_096, 16_383, 16_385, 65_536, 200_000][next(9)]!;
          socket.write(wire.subarray(at, at + size));
          at += size;
          // Let the reader see this slice on its own now and then.
          if (next(3) === 0) await new Promise((resolve) => setTimeout(resolve, 1));
        }
      })();
    });
    const pull = open({ address: peer.address, type: 'pull' });
    for (const want of messages) expectParts(await pull.receive(), want);
    expect(pull.counters()).toMatchObject({ connections: 1, truncatedMessages: 0, handshakeErrors: 0 });
  });

  it.each([
    ['says nothing', false],
    ['greets but sends no READY', true],
  ])('gives up on a peer that accepts and %s within handshakeTimeoutMs, says so once, and retries', async (_, greets) => {
    let closedByReader = 0;
    const accepted: Socket[] = [];
    const server = createServer((socket) => {
      accepted.push(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => closedByReader++);
      socket.resume();
      if (greets) socket.write(zmtpGreeting());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => server.close(resolve)));
    closers.push(() => accepted.forEach((a) => a.destroy()));
    const address = `tcp://127.0.0.1:${(server.address() as { port: number }).port}`;
    const { logger, lines } = recording();
    const pull = open({ address, type: 'pull', logger, reconnectIntervalMs: 20, handshakeTimeoutMs: 200 });
    await waitUntil('two handshakes timed out', () => pull.counters().handshakeErrors >= 2);
    await waitUntil('the peer to see them closed', () => closedByReader >= 2);
    expect(accepted.length).toBeGreaterThanOrEqual(2);
    expect(lines.map((l) => l.msg)).toEqual([`bsread: no ZMTP handshake from ${address} within 200 ms; retrying`]);
    expect(pull.counters()).toMatchObject({ connections: 0, connected: false });
  });

  it('says a lost established connection was lost (ECONNRESET, closed by the peer), not that the stream is not reachable', async () => {
    const peer = await rawPeer((socket, _, n) => socket.write(frame(0x00, Buffer.from(`hello ${n}`))));
    const { logger, lines } = recording();
    const pull = open({ address: peer.address, type: 'pull', logger, reconnectIntervalMs: 20, handshakeTimeoutMs: 1000 });
    expect((await pull.receive())[0]!.toString()).toBe('hello 0');
    // Up past the handshake timeout: it ends with the READY.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(pull.counters()).toMatchObject({ connected: true, disconnects: 0, handshakeErrors: 0 });
    peer.accepted[0]!.resetAndDestroy();
    expect((await pull.receive())[0]!.toString()).toBe('hello 1');
    peer.accepted[1]!.end();
    expect((await pull.receive())[0]!.toString()).toBe('hello 2');
    const warnings = lines.filter((l) => l.level === 'warn').map((l) => l.msg);
    expect(warnings).toEqual([`bsread: connection to ${peer.address} lost: ECONNRESET; reconnecting`, `bsread: connection to ${peer.address} lost: closed by the peer; reconnecting`]);
    expect(pull.counters()).toMatchObject({ connections: 3, disconnects: 2, handshakeErrors: 0, protocolErrors: 0 });
  });

  it('logs a malformed READY once however often it comes, then how many attempts failed when a good one does', async () => {
    // Socket-Type says 9 bytes of value, 4 follow.
    const cutShort = Buffer.concat([Buffer.from([5]), Buffer.from('READY'), Buffer.from([11]), Buffer.from('Socket-Type'), Buffer.from([0, 0, 0, 9]), Buffer.from('PUSH')]);
    let good = false;
    const peer = await rawPeer(
      (socket) => socket.write(frame(0x00, Buffer.from('at last'))),
      () => (good ? pushReady() : cutShort),
    );
    const { logger, lines } = recording();
    const pull = open({ address: peer.address, type: 'pull', logger, reconnectIntervalMs: 20 });
    await waitUntil('three malformed READYs', () => pull.counters().handshakeErrors >= 3);
    good = true;
    expect((await pull.receive())[0]!.toString()).toBe('at last');
    const errors = lines.filter((l) => l.level === 'error');
    expect(errors.map((l) => l.msg)).toEqual([`bsread: ZMTP handshake with ${peer.address} failed; retrying`]);
    expect((errors[0]!.obj as { error: string }).error).toBe('READY property Socket-Type cut short');
    const back = lines.find((l) => l.msg === 'bsread: connected again');
    expect((back?.obj as { failedAttempts: number }).failedAttempts).toBeGreaterThanOrEqual(3);
    expect(pull.counters()).toMatchObject({ connections: 1, connected: true, protocolErrors: 0 });
  });

  it('logs each kind of failure once an outage: a peer that first hangs up in the handshake, then names why', async () => {
    // As libzmq does when it reads a wrong socket type before sending its own READY, and then not.
    let accepted = 0;
    const server = createServer((socket) => {
      socket.on('error', () => undefined);
      socket.resume();
      socket.write(zmtpGreeting());
      if (accepted++ === 0) socket.end();
      else socket.write(frame(0x04, readyOf('PUB')));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => server.close(resolve)));
    const address = `tcp://127.0.0.1:${(server.address() as { port: number }).port}`;
    const { logger, lines } = recording();
    const pull = open({ address, type: 'pull', logger, reconnectIntervalMs: 20 });
    await waitUntil('three refused handshakes', () => pull.counters().handshakeErrors >= 3);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['warn', `bsread: ${address} closed the connection during the ZMTP handshake; retrying`],
      ['error', `bsread: ZMTP handshake with ${address} failed; retrying`],
    ]);
    expect((lines[1]!.obj as { error: string }).error).toMatch(/a PULL socket cannot read from a PUB socket/);
  });

  it('drops a connection that sends a frame over maxFrameBytes after the handshake, as a protocol error of its own, and reconnects', async () => {
    const peer = await rawPeer((socket, _, n) => {
      socket.write(frame(0x00, Buffer.from(`before ${n}`)));
      if (n === 0) socket.write(frame(0x00, Buffer.alloc(2000, 1)));
    });
    const { logger, lines } = recording();
    const pull = open({ address: peer.address, type: 'pull', logger, reconnectIntervalMs: 20, maxFrameBytes: 1000 });
    expect((await pull.receive())[0]!.toString()).toBe('before 0');
    expect((await pull.receive())[0]!.toString()).toBe('before 1');
    expect(lines.filter((l) => l.level === 'error' || l.level === 'warn').map((l) => l.msg)).toEqual([
      `bsread: frame of 2000 bytes exceeds the limit 1000 (from ${peer.address}); reconnecting`,
    ]);
    expect(pull.counters()).toMatchObject({ connections: 2, disconnects: 1, handshakeErrors: 0, protocolErrors: 1 });
  });
});
