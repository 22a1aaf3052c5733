import { createServer, connect as connectTcp, type Server, type Socket } from 'node:net';
import fc from 'fast-check';
import * as zmq from 'zeromq';
import { afterEach, describe, expect, it } from 'vitest';
import { createBsreadReceiver } from '../../adapters/bsread/bsreadReceiver.js';
import { fuzzSettings } from './fuzzSettings.js';
import { goodHeader, goodMessage } from './bsreadMutations.js';

/*
 * The peers of the bsread socket: daqflow's ZMTP reader connects to the stream's address, and
 * whatever listens there can stall in the handshake or accept and drop connection after
 * connection. Each such connection is counted (`link` counters), never fatal; the reader
 * reconnects at its interval (no tighter), and once a real sender is there every good pulse
 * arrives, in order. A TCP stand-in at the address plays the bad peers, then hands the
 * connection to a real ZeroMQ PUSH socket.
 */

const settings = fuzzSettings(30);
const HANDSHAKE_MS = 1_000;
const RECONNECT_MS = 20;
const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

const greeting = (): Buffer => {
  const g = Buffer.alloc(64);
  g[0] = 0xff;
  g[9] = 0x7f;
  g[10] = 3;
  g.write('NULL', 12, 'ascii');
  return g;
};

/** A READY command naming `socketType`. */
const ready = (socketType: string): Buffer => {
  const name = Buffer.from('Socket-Type');
  const value = Buffer.from(socketType);
  const size = Buffer.alloc(4);
  size.writeUInt32BE(value.length);
  const body = Buffer.concat([Buffer.from([5]), Buffer.from('READY'), Buffer.from([name.length]), name, size, value]);
  return Buffer.concat([Buffer.from([0x04, body.length]), body]);
};

/** What a bad peer does with one connection. `stalls` ones are held until the reader gives up. */
const behaviours = {
  'closes at once': (s: Socket) => s.destroy(),
  'sends its greeting and closes': (s: Socket) => s.end(greeting()),
  'sends half a greeting and stalls': (s: Socket) => void s.write(greeting().subarray(0, 10)),
  'sends its greeting and stalls': (s: Socket) => void s.write(greeting()),
  'sends a greeting of ZMTP 2 and stalls': (s: Socket) => void s.write(Buffer.concat([greeting().subarray(0, 10), Buffer.from([1, 0])])),
  'sends garbage': (s: Socket) => s.end(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')),
  'says it is a PULL socket (the wrong type)': (s: Socket) => s.end(Buffer.concat([greeting(), ready('PULL')])),
  'sends a READY, then a frame over the size limit claim, and stalls': (s: Socket) => {
    const big = Buffer.alloc(9);
    big[0] = 0x02;
    big.writeBigUInt64BE(2n ** 62n, 1);
    s.write(Buffer.concat([greeting(), ready('PUSH'), big]));
  },
} as const;
type Behaviour = keyof typeof behaviours;

describe('bsread socket peers that stall or flood handshakes (zmtp transport)', () => {
  it('every bad connection is counted, none is fatal, the reader does not spin, and every good pulse arrives in order after them', async () => {
    // One of each first, then a generated sequence.
    const kinds = Object.keys(behaviours) as Behaviour[];
    const bad = [...kinds, ...fc.sample(fc.constantFrom(...kinds), { seed: settings.seed, numRuns: settings.cases })];
    const push = new zmq.Push({ sendHighWaterMark: 10_000, linger: 0 });
    await push.bind('tcp://127.0.0.1:*');
    closers.push(() => push.close());
    const pushPort = Number(new URL((push.lastEndpoint as string).replace('tcp://', 'http://')).port);

    // The stand-in: the i-th connection meets bad[i]; after them, a pipe to the real sender.
    const held = new Set<Socket>();
    let accepted = 0;
    const seen: Array<{ at: number; behaviour: Behaviour | 'real sender' }> = [];
    const server: Server = createServer((s) => {
      held.add(s);
      s.on('close', () => held.delete(s));
      s.on('error', () => undefined);
      const behaviour = bad[accepted++];
      seen.push({ at: Date.now(), behaviour: behaviour ?? 'real sender' });
      if (behaviour !== undefined) {
        // Read (and drop) what the reader sends, so that its close is seen here.
        s.resume();
        behaviours[behaviour](s);
        return;
      }
      const upstream = connectTcp(pushPort, '127.0.0.1');
      upstream.on('error', () => s.destroy());
      s.on('close', () => upstream.destroy());
      s.pipe(upstream).pipe(s);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    closers.push(
      () =>
        new Promise<void>((r) => {
          for (const s of held) s.destroy();
          server.close(() => r());
        }),
    );
    const address = `tcp://127.0.0.1:${(server.address() as { port: number }).port}`;

    const header = goodHeader(['none', 'lz4', 'bitshuffle_lz4'], 'none');
    const delivered: number[] = [];
    const receiver = createBsreadReceiver({
      address,
      mode: 'pull',
      transport: 'zmtp',
      handshakeTimeoutMs: HANDSHAKE_MS,
      reconnectIntervalMs: RECONNECT_MS,
      onMessage: (m) => void delivered.push(m.pulseId),
    });
    closers.push(() => receiver.close());
    let ended = false;
    void receiver.done.then(() => (ended = true));
    const started = Date.now();

    // PUSH holds the pulses until a peer has finished its handshake: the reader, once past the bad ones.
    const good = Array.from({ length: 40 }, (_, k) => 5_000 + k);
    for (const id of good) await push.send(goodMessage(header, id));
    const deadline = Date.now() + bad.length * (HANDSHAKE_MS + 10 * RECONNECT_MS) + 30_000;
    while (delivered.length < good.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

    const c = receiver.counters();
    const elapsed = Date.now() - started;
    console.log(`bsread peers fuzz (seed ${settings.seed}): ${bad.length} bad connections in ${elapsed} ms`, c.link, Object.fromEntries(Object.keys(behaviours).map((b) => [b, bad.filter((x) => x === b).length])));
    expect(delivered).toEqual(good);
    expect(ended, 'the receive loop is still running').toBe(false);
    expect(c.received).toBe(good.length);
    expect(c.malformed).toBe(0);
    expect(accepted).toBe(bad.length + 1);
    // Each bad connection counted as lost; the ones that broke the handshake as handshake errors.
    expect(c.link?.disconnects).toBeGreaterThanOrEqual(bad.length);
    expect(c.link?.connections).toBeGreaterThanOrEqual(1);
    // A peer that closes mid-handshake is a lost link; one that stalls, refuses or breaks the greeting is a handshake error.
    const lostLinks = new Set<Behaviour>(['closes at once', 'sends its greeting and closes', 'sends a READY, then a frame over the size limit claim, and stalls']);
    expect(c.link?.handshakeErrors).toBe(bad.filter((b) => !lostLinks.has(b)).length);
    expect(c.link?.protocolErrors).toBe(bad.filter((b) => b === 'sends a READY, then a frame over the size limit claim, and stalls').length);
    // No spinning: consecutive attempts at least the reconnect interval apart.
    for (let i = 1; i < seen.length; i++) expect((seen[i]?.at ?? 0) - (seen[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(RECONNECT_MS - 5);
    // The stalled ones were dropped, not kept: nothing but the real sender's connection is open.
    expect(held.size).toBe(1);
  }, 180_000);
});
