/**
 * Decode speed of the bsread codec, one core, no sockets: `npx tsx bench/bsreadCodecBench.ts`.
 *
 * For a 1024 x 1280 uint16 camera-like image (a spot on a noisy 12-bit background) in every
 * compression and both byte orders, and for a message of 200 float64 scalars: messages decoded per
 * second and MB/s of decoded image. `--seconds N` per case (default 1.5), `--width`, `--height`.
 *
 * `--socket` adds the simulator → receiver rate over tcp loopback, the simulator in a child
 * process (so each side has a core), for the image (none, bitshuffle_lz4) and for 200 scalars:
 * messages per second received and decoded with nothing else to do, and each side's CPU.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DataHeaderCache, decodeMessage } from '../adapters/bsread/bsreadCodec.js';
import { encodeDataHeader, encodeMessage, type BsreadChannelInput } from '../adapters/bsread/bsreadEncoder.js';
import type { BsreadByteOrder, BsreadCompression } from '../adapters/bsread/bsreadMessage.js';
import { createBsreadReceiver } from '../adapters/bsread/bsreadReceiver.js';
import { startBsreadSimulator } from '../adapters/bsread/bsreadSimulator.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '1.5' },
    width: { type: 'string', default: '1280' },
    height: { type: 'string', default: '1024' },
    socket: { type: 'boolean', default: false },
    // Internal: the child process that sends.
    sender: { type: 'string' },
    address: { type: 'string' },
    messages: { type: 'string' },
    compression: { type: 'string' },
  },
});
const seconds = Number(args.seconds);
const width = Number(args.width);
const height = Number(args.height);

/** A camera-like frame: a Gaussian spot on a background with a few counts of noise, 12 bits. */
const cameraImage = (w: number, h: number): Uint8Array => {
  const image = new Uint16Array(w * h);
  let s = 12345;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      const d = ((x - w / 2) ** 2 + (y - h / 2) ** 2) / ((w * h) / 64);
      image[y * w + x] = Math.min(4095, Math.round(100 + 2000 * Math.exp(-d) + (s >>> 27)));
    }
  }
  return new Uint8Array(image.buffer);
};

interface Case {
  readonly name: string;
  readonly parts: Buffer[];
  /** Decoded payload bytes per message (for MB/s). */
  readonly payloadBytes: number;
}

const time = (c: Case): { hz: number; mbps: number; wireMB: number } => {
  const cache = new DataHeaderCache();
  let sink = 0;
  for (let i = 0; i < 5; i++) sink += decodeMessage(c.parts, cache).wireBytes;
  let n = 0;
  const start = process.hrtime.bigint();
  const until = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < until) {
    for (let i = 0; i < 4; i++) {
      const m = decodeMessage(c.parts, cache);
      sink += m.values.byteLength(0);
      n++;
    }
    now = process.hrtime.bigint();
  }
  const s = Number(now - start) / 1e9;
  if (sink < 0) console.log(sink);
  const wireMB = c.parts.reduce((a, p) => a + p.length, 0) / 1e6;
  return { hz: n / s, mbps: (n * c.payloadBytes) / 1e6 / s, wireMB };
};

const imageChannels = (): BsreadChannelInput[] => [{ name: 'CAM:FPICTURE', type: 'uint16', shape: [width, height] }];
const scalarChannels = (): BsreadChannelInput[] => Array.from({ length: 200 }, (_, i) => ({ name: `SCALAR:${i}`, type: 'float64' }));

if (args.sender !== undefined) {
  // Child: send as fast as the receiver takes, report CPU on stdout.
  const sim = await startBsreadSimulator({
    address: args.address!,
    rateHz: Infinity,
    channels: args.sender === 'image' ? imageChannels() : scalarChannels(),
    compression: args.compression as BsreadCompression,
    maxMessages: Number(args.messages),
  });
  process.stdout.write('ready\n');
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await sim.done;
  const cpu = process.cpuUsage(c0);
  process.stdout.write(`${JSON.stringify({ cpu: (cpu.user + cpu.system) / 1000 / (performance.now() - t0) })}\n`);
  // The last messages may still be queued in the socket: the parent ends this process once it has them all.
  setInterval(() => undefined, 60_000);
} else {
  decodeBench();
  if (args.socket) await socketBench();
}

/** Decode alone, one core. */
function decodeBench(): void {
  const imageBytes = cameraImage(width, height);
  const cases: Case[] = [];
  for (const compression of ['none', 'bitshuffle_lz4', 'lz4'] as BsreadCompression[]) {
    for (const encoding of ['little', 'big'] as BsreadByteOrder[]) {
      const channel: BsreadChannelInput = { name: 'CAM:FPICTURE', type: 'uint16', shape: [width, height], encoding, compression };
      const header = encodeDataHeader([channel]);
      const parts = encodeMessage({ header, pulseId: 1, globalTimestamp: { sec: 1_700_000_000, ns: 0 }, values: [imageBytes] });
      cases.push({ name: `image ${height}x${width} uint16 ${compression} ${encoding}`, parts, payloadBytes: imageBytes.length });
    }
  }
  const scalars: BsreadChannelInput[] = Array.from({ length: 200 }, (_, i) => ({ name: `SCALAR:${i}`, type: 'float64' }));
  const scalarHeader = encodeDataHeader(scalars);
  cases.push({
    name: '200 float64 scalars, none little',
    parts: encodeMessage({
      header: scalarHeader,
      pulseId: 1,
      globalTimestamp: { sec: 1_700_000_000, ns: 0 },
      values: scalars.map((_, i) => new Uint8Array(new Float64Array([i * 0.5]).buffer)),
    }),
    payloadBytes: 200 * 8,
  });

  console.log(`bsread decode, one core, ${seconds} s per case (node ${process.version})`);
  console.log('case | wire MB/message | messages/s | decoded MB/s');
  for (const c of cases) {
    const r = time(c);
    console.log(`${c.name} | ${r.wireMB.toFixed(3)} | ${r.hz.toFixed(0)} | ${r.mbps.toFixed(0)}`);
  }
}

/** Simulator in a child process → receiver here, over tcp loopback. */
async function socketBench(): Promise<void> {
  const self = fileURLToPath(import.meta.url);
  console.log('\nsimulator (child process) -> receiver over tcp loopback, as fast as it goes');
  console.log('stream | messages/s received | receiver CPU | sender CPU');
  for (const [kind, compression, messages] of [
    ['image', 'none', 1500],
    ['image', 'bitshuffle_lz4', 400],
    ['scalars', 'none', 8000],
  ] as const) {
    const address = `tcp://127.0.0.1:${45000 + Math.floor(Math.random() * 10000)}`;
    const child = spawn(process.execPath, [...process.execArgv, self, '--sender', kind, '--address', address, '--messages', String(messages), '--compression', compression, '--width', String(width), '--height', String(height)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    let ready: () => void = () => undefined;
    const isReady = new Promise<void>((resolve) => (ready = resolve));
    child.stdout.on('data', (d: Buffer) => {
      lines.push(...d.toString().split('\n').filter(Boolean));
      if (lines.includes('ready')) ready();
    });
    await isReady;
    let got = 0;
    let t0 = 0;
    let c0 = process.cpuUsage();
    const receiver = createBsreadReceiver({
      address,
      mode: 'pull',
      onMessage: () => {
        if (got++ === 0) {
          t0 = performance.now();
          c0 = process.cpuUsage();
        }
      },
    });
    while (got < messages) await new Promise((resolve) => setTimeout(resolve, 2));
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    while (!lines.some((l) => l.startsWith('{'))) await new Promise((resolve) => setTimeout(resolve, 5));
    child.kill();
    await receiver.close();
    const sender = JSON.parse(lines.find((l) => l.startsWith('{')) ?? '{"cpu": 0}') as { cpu: number };
    const name = kind === 'image' ? `image ${height}x${width} uint16 ${compression}` : '200 float64 scalars';
    console.log(
      `${name} | ${(((messages - 1) / ms) * 1000).toFixed(0)} | ${(((cpu.user + cpu.system) / 1000 / ms) * 100).toFixed(0)}% | ${(sender.cpu * 100).toFixed(0)}%`,
    );
  }
}
