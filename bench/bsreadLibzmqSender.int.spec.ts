import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { BsreadMessage } from '../adapters/bsread/bsreadMessage.js';
import { bsreadTransports, createBsreadReceiver, type BsreadReceiver, type BsreadTransport } from '../adapters/bsread/bsreadReceiver.js';
import { killAllSenders, senderImage, senderScalarName, senderScalarValue, SENDER_IMAGE_NAME, startLibzmqSender } from '../test/harness/libzmqSender.js';
import { pythonWith, runPythonJson } from '../test/harness/python.js';

/*
 * The libzmq sender (bsreadLibzmqSender.c) against two readers that share nothing with it:
 * daqflow's bsread receiver and decoder (both transports), and pyzmq. Every message is checked
 * value by value against the sender's formulas, over real ZeroMQ on 127.0.0.1.
 */

const harness = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'harness');

const receivers: BsreadReceiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});
afterAll(killAllSenders);

/*
 * The sender closes with its queue given --linger-ms to leave; its 2 s default lost images in CI when
 * the receiver ran behind under the suite's load (19 of 40 arrived), so PUSH senders here wait longer.
 */
const drain = ['--linger-ms', '40000'];

// Generous: under the suite's load the zeromq.js transport took over 15 s for a second's stream.
const waitUntil = async (what: () => string, condition: () => boolean, timeoutMs = 45_000): Promise<void> => {
  const until = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > until) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

/** What daqflow's receiver made of the stream, every message checked as it arrives. */
interface Received {
  pulseIds: number[];
  problems: string[];
  headerBytes: Buffer[];
  firstTimestamp?: { sec: number; ns: number };
}

const tsNs = (m: Pick<BsreadMessage, 'globalTimestamp'>): bigint => BigInt(m.globalTimestamp.sec) * 1_000_000_000n + BigInt(m.globalTimestamp.ns);

/** Reads the stream at `address`; `rateHz` is the sender's, for the spacing of the global timestamps. */
const receive = (address: string, mode: 'pull' | 'sub', transport: BsreadTransport, rateHz: number): { receiver: BsreadReceiver; got: Received } => {
  const got: Received = { pulseIds: [], problems: [], headerBytes: [] };
  const problem = (text: string): void => {
    if (got.problems.length < 20) got.problems.push(text);
  };
  const receiver = createBsreadReceiver({
    address,
    mode,
    transport,
    onParts: (parts, m) => {
      if (parts[1]!.length > 0) {
        got.headerBytes.push(Buffer.from(parts[1]!));
        if (createHash('md5').update(parts[1]!).digest('hex') !== m.hash) problem(`pulse ${m.pulseId}: the hash is not the MD5 of the data header`);
      }
    },
    onMessage: (m) => {
      got.pulseIds.push(m.pulseId);
      const values = m.values;
      for (let i = 0; i < m.channels.length; i++) {
        const c = m.channels[i]!;
        const bytes = values.bytes(i);
        const stamp = values.timestamp(i);
        if (bytes === null) {
          problem(`pulse ${m.pulseId} ${c.name}: no value`);
          continue;
        }
        if (stamp === null || stamp.sec !== m.globalTimestamp.sec || stamp.ns !== m.globalTimestamp.ns) problem(`pulse ${m.pulseId} ${c.name}: timestamp ${JSON.stringify(stamp)}`);
        if (c.type === 'float64') {
          const v = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readDoubleLE(0);
          if (c.name !== senderScalarName(i) || v !== senderScalarValue(m.pulseId, i)) problem(`pulse ${m.pulseId} ${c.name}: ${v}`);
        } else {
          const want = senderImage(m.pulseId, c.shape[0]! * c.shape[1]!);
          const wantBytes = Buffer.from(want.buffer, want.byteOffset, want.byteLength);
          if (c.name !== SENDER_IMAGE_NAME || c.type !== 'uint16' || !wantBytes.equals(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))) {
            problem(`pulse ${m.pulseId} ${c.name} (${c.type} ${JSON.stringify(c.shape)}): the image differs`);
          }
        }
      }
      // Pulse n is due at start + n / rate: the global timestamps say so, to the nanosecond's rounding.
      if (got.pulseIds.length === 1) {
        firstStamp = tsNs(m);
        got.firstTimestamp = m.globalTimestamp;
      }
      else {
        const n = BigInt(m.pulseId - got.pulseIds[0]!);
        const offset = tsNs(m) - firstStamp;
        const want = (n * 1_000_000_000n) / BigInt(rateHz);
        if (offset < want - 2n || offset > want + 2n) problem(`pulse ${m.pulseId}: global timestamp ${offset} ns after the first, not ${want}`);
      }
    },
  });
  let firstStamp = 0n;
  receivers.push(receiver);
  return { receiver, got };
};

const contiguous = (ids: readonly number[], first: number, count: number): void => {
  expect(ids.length, 'messages delivered').toBe(count);
  const gaps = ids.filter((p, k) => p !== first + k);
  expect(gaps.slice(0, 5), `pulse ids ${first}..${first + count - 1}, in order`).toEqual([]);
};

describe.each(bsreadTransports)("daqflow's bsread receiver (%s) reads the libzmq sender", (transport) => {
  it('200 float64 scalars over PUSH/PULL: every pulse, value, timestamp and hash as the formulas say', async () => {
    const sender = await startLibzmqSender(['--bind', 'tcp://127.0.0.1:*', '--rate', '1000', '--scalars', '200', '--pulses', '1000', '--start-pulse', '7000000', '--wait-peer', '10', ...drain]);
    const { receiver, got } = receive(sender.endpoint, 'pull', transport, 1000);
    const { code, summary } = await sender.exited;
    expect(code, sender.stderr()).toBe(0);
    expect(summary).toMatchObject({ sent: 1000, firstPulseId: 7_000_000, lastPulseId: 7_000_999, dropped: 0, stoppedBy: 'pulses', channels: 200 });
    await waitUntil(() => `1000 messages (have ${got.pulseIds.length})`, () => got.pulseIds.length >= 1000);
    contiguous(got.pulseIds, 7_000_000, 1000);
    expect(got.problems).toEqual([]);
    expect(receiver.counters()).toMatchObject({ malformed: 0, missingPulses: 0, outOfOrder: 0, headerParses: 1 });
    expect(got.headerBytes.length, 'a data header in every message').toBe(1000);
  }, 100_000);

  it('a 1024x1280 uint16 image with the data header sent once: every pixel of every pulse', async () => {
    const sender = await startLibzmqSender([
      ...['--bind', 'tcp://127.0.0.1:*', '--rate', '100', '--image', '1024x1280', '--pulses', '40', '--start-pulse', '123456789'],
      ...['--data-header', 'once', '--wait-peer', '10', ...drain],
    ]);
    const { receiver, got } = receive(sender.endpoint, 'pull', transport, 100);
    const { code, summary } = await sender.exited;
    expect(code, sender.stderr()).toBe(0);
    expect(summary).toMatchObject({ sent: 40, kind: 'image', width: 1024, height: 1280, dropped: 0, stoppedBy: 'pulses' });
    await waitUntil(() => `40 images (have ${got.pulseIds.length})`, () => got.pulseIds.length >= 40);
    contiguous(got.pulseIds, 123_456_789, 40);
    expect(got.problems).toEqual([]);
    expect(got.headerBytes.length, 'the data header in the first message only').toBe(1);
    expect(JSON.parse(got.headerBytes[0]!.toString('utf8'))).toEqual({
      htype: 'bsr_d-1.1',
      channels: [{ name: SENDER_IMAGE_NAME, type: 'uint16', shape: [1024, 1280], encoding: 'little', compression: 'none' }],
    });
    expect(receiver.counters()).toMatchObject({ malformed: 0, missingPulses: 0 });
  }, 100_000);
});

describe('the libzmq sender', () => {
  it('PUB/SUB: waits for the subscription, then every pulse arrives and none is dropped', async () => {
    const sender = await startLibzmqSender(['--mode', 'pub', '--bind', 'tcp://127.0.0.1:*', '--rate', '1000', '--scalars', '10', '--pulses', '500', '--start-pulse', '42', '--wait-peer', '10']);
    const { got } = receive(sender.endpoint, 'sub', 'zmtp', 1000);
    const { code, summary } = await sender.exited;
    expect(code, sender.stderr()).toBe(0);
    expect(summary).toMatchObject({ mode: 'pub', sent: 500, dropped: 0, stoppedBy: 'pulses' });
    await waitUntil(() => `500 messages (have ${got.pulseIds.length})`, () => got.pulseIds.length >= 500);
    contiguous(got.pulseIds, 42, 500);
    expect(got.problems).toEqual([]);
  });

  it('time-based pulse ids: pulse p is sent at p / rate seconds since the epoch, and stamped so', async () => {
    const sender = await startLibzmqSender(['--bind', 'tcp://127.0.0.1:*', '--rate', '1000', '--scalars', '4', '--pulses', '300', '--start-pulse', 'time', '--wait-peer', '10']);
    const { got } = receive(sender.endpoint, 'pull', 'zmtp', 1000);
    const first = await sender.sending;
    // At 1 kHz a pulse id is a millisecond since the epoch.
    expect(Math.abs(first.first - Date.now())).toBeLessThan(2_000);
    expect(first.last).toBe(first.first + 299);
    const { code } = await sender.exited;
    expect(code, sender.stderr()).toBe(0);
    await waitUntil(() => `300 messages (have ${got.pulseIds.length})`, () => got.pulseIds.length >= 300);
    contiguous(got.pulseIds, first.first, 300);
    expect(got.firstTimestamp).toEqual({ sec: Math.floor(first.first / 1000), ns: (first.first % 1000) * 1_000_000 });
    expect(got.problems).toEqual([]);
  });

  it('stops cleanly on SIGTERM and says so; gives up by itself when no peer comes, or when its peer left and a send waits too long', async () => {
    const sender = await startLibzmqSender(['--bind', 'tcp://127.0.0.1:*', '--rate', '500', '--scalars', '10', '--seconds', '120', '--wait-peer', '10']);
    const { got } = receive(sender.endpoint, 'pull', 'zmtp', 500);
    await waitUntil(() => `100 messages (have ${got.pulseIds.length})`, () => got.pulseIds.length >= 100);
    const killedAt = performance.now();
    sender.kill('SIGTERM');
    const { code, summary } = await sender.exited;
    expect(performance.now() - killedAt, 'exit after SIGTERM, ms').toBeLessThan(2_000);
    expect(code, sender.stderr()).toBe(0);
    expect(summary?.stoppedBy).toBe('signal');
    await waitUntil(() => `${summary?.sent} messages (have ${got.pulseIds.length})`, () => got.pulseIds.length >= (summary?.sent ?? Infinity));
    contiguous(got.pulseIds, got.pulseIds[0]!, summary!.sent);
    expect(got.problems).toEqual([]);

    const lonely = await startLibzmqSender(['--bind', 'tcp://127.0.0.1:*', '--pulses', '10', '--wait-peer', '0.3']);
    const alone = await lonely.exited;
    expect(alone.code).toBe(3);
    expect(alone.summary).toMatchObject({ sent: 0, stoppedBy: 'no-peer' });

    const left = await startLibzmqSender(['--bind', 'tcp://127.0.0.1:*', '--rate', '500', '--scalars', '10', '--seconds', '120', '--wait-peer', '10', '--max-stall', '0.5']);
    const reader = receive(left.endpoint, 'pull', 'zmtp', 500);
    await waitUntil(() => `10 messages (have ${reader.got.pulseIds.length})`, () => reader.got.pulseIds.length >= 10);
    await reader.receiver.close();
    const stalled = await left.exited;
    expect(stalled.code, stalled.stderr).toBe(4);
    expect(stalled.summary?.stoppedBy).toBe('stalled');
  });
});

describe('pyzmq reads the libzmq sender', () => {
  const python = (): string => pythonWith(['zmq', 'numpy'], ['python3-zmq', 'python3-numpy']);
  const script = join(harness, 'readLibzmqSenderStream.py');

  it('200 scalars over PUSH/PULL and 1024x1280 images over PUB/SUB: every value as the formulas say, MD5 hashes right', async () => {
    const py = python();
    const scalars = await startLibzmqSender(['--bind', 'tcp://127.0.0.1:*', '--rate', '500', '--scalars', '200', '--pulses', '500', '--start-pulse', '900', '--wait-peer', '10']);
    const readScalars = await runPythonJson<Record<string, number>>(py, script, [scalars.endpoint, 'pull', '500', '10000'], 30_000);
    expect((await scalars.exited).code).toBe(0);
    expect(readScalars).toEqual({
      received: 500,
      gaps: 0,
      badValues: 0,
      badTimestamps: 0,
      badHashes: 0,
      badParts: 0,
      headersSeen: 500,
      firstPulseId: 900,
      lastPulseId: 1399,
      channels: 200,
    });

    const images = await startLibzmqSender(['--mode', 'pub', '--bind', 'tcp://127.0.0.1:*', '--rate', '50', '--image', '1024x1280', '--pulses', '20', '--start-pulse', '5', '--wait-peer', '10']);
    const readImages = await runPythonJson<Record<string, number>>(py, script, [images.endpoint, 'sub', '20', '10000'], 30_000);
    const imagesDone = await images.exited;
    expect(imagesDone.code).toBe(0);
    expect(imagesDone.summary?.dropped).toBe(0);
    expect(readImages).toMatchObject({ received: 20, gaps: 0, badValues: 0, badTimestamps: 0, badHashes: 0, badParts: 0, firstPulseId: 5, lastPulseId: 24, channels: 1 });
  });
});
