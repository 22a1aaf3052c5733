/**
 * The sender of the acquisition bench: the bsread simulator (`startBsreadSimulator`) in a process
 * of its own, so that it has a core to itself and its rate is measured apart from the receiver.
 *
 *   node --import tsx bench/bsreadSenderChild.ts --kind image|scalars --rate HZ|max --messages N
 *        [--start-pulse P] [--mode pub|push] [--width 1280 --height 1024] [--scalars 200]
 *        [--address tcp://127.0.0.1:PORT]
 *
 * Binds `--address` (default `tcp://127.0.0.1:*`, any free port) and prints one JSON line `{"ready":true,"address":…}`. In pub mode it
 * waits for one subscriber (the simulator's XPUB `waitForSubscribers`), so no pulse is sent into
 * the void before the receiver's subscription has arrived. After the last message it prints
 * `{"done":true,…}` with what it sent and how fast (`SenderReport`), then stays up, so the
 * messages still queued in the socket can leave, until stdin closes or a signal ends it.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BsreadChannelInput } from '../adapters/bsread/bsreadEncoder.js';
import { startBsreadSimulator } from '../adapters/bsread/bsreadSimulator.js';

export type SenderKind = 'image' | 'scalars';

export interface SenderSpec {
  readonly kind: SenderKind;
  /** Messages per second; Infinity: as fast as the socket takes them. */
  readonly rateHz: number;
  readonly messages: number;
  readonly startPulseId: number;
  readonly mode: 'pub' | 'push';
  readonly width: number;
  readonly height: number;
  readonly scalars: number;
  /** Where to bind; default any free port on 127.0.0.1. */
  readonly address?: string;
}

/** What the child prints when it has sent its last message. */
export interface SenderReport {
  readonly done: true;
  readonly sent: number;
  readonly firstPulseId: number;
  readonly lastPulseId: number | null;
  /** From the first message handed to the socket to the last (ms; the first is seen within ~1 ms). */
  readonly sendMs: number;
  /** (sent - 1) / sendMs: the rate achieved, messages per second. */
  readonly rateHz: number;
  /** CPU of this process over the same time, in cores (1 = one core busy all the time). */
  readonly cpuCores: number;
}

/** The bench's camera: one uint16 image channel; wire shape [width, height] is HDF5 [height, width]. */
export const IMAGE_CHANNEL = 'BENCH:CAMERA:FPICTURE';
/** The first of the scalar channels (the one whose rows the bench reads back). */
export const scalarChannelName = (i: number): string => `BENCH:SCALAR:${String(i).padStart(3, '0')}`;

export const senderChannels = (spec: Pick<SenderSpec, 'kind' | 'width' | 'height' | 'scalars'>): BsreadChannelInput[] =>
  spec.kind === 'image'
    ? [{ name: IMAGE_CHANNEL, type: 'uint16', shape: [spec.width, spec.height] }]
    : Array.from({ length: spec.scalars }, (_, i) => ({ name: scalarChannelName(i), type: 'float64' as const }));

/** Command-line arguments that make the child send `spec`. */
export const senderArgs = (spec: SenderSpec): string[] => [
  ...['--kind', spec.kind, '--rate', Number.isFinite(spec.rateHz) ? String(spec.rateHz) : 'max'],
  ...['--messages', String(spec.messages), '--start-pulse', String(spec.startPulseId), '--mode', spec.mode],
  ...['--width', String(spec.width), '--height', String(spec.height), '--scalars', String(spec.scalars)],
  ...(spec.address === undefined ? [] : ['--address', spec.address]),
];

const parseSpec = (argv: readonly string[]): SenderSpec => {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      kind: { type: 'string', default: 'image' },
      rate: { type: 'string', default: '100' },
      messages: { type: 'string', default: '1000' },
      'start-pulse': { type: 'string', default: '1000000' },
      mode: { type: 'string', default: 'pub' },
      width: { type: 'string', default: '1280' },
      height: { type: 'string', default: '1024' },
      scalars: { type: 'string', default: '200' },
      address: { type: 'string', default: 'tcp://127.0.0.1:*' },
    },
    strict: true,
    allowPositionals: false,
  });
  const count = (flag: string, text: string): number => {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${flag} ${text}: expected a non-negative integer`);
    return n;
  };
  if (values.kind !== 'image' && values.kind !== 'scalars') throw new Error(`--kind ${values.kind}: expected image or scalars`);
  if (values.mode !== 'pub' && values.mode !== 'push') throw new Error(`--mode ${values.mode}: expected pub or push`);
  const rateHz = values.rate === 'max' ? Infinity : Number(values.rate);
  if (!(rateHz > 0)) throw new Error(`--rate ${values.rate}: expected a positive number or max`);
  return {
    kind: values.kind,
    rateHz,
    messages: count('messages', values.messages),
    startPulseId: count('start-pulse', values['start-pulse']),
    mode: values.mode,
    width: count('width', values.width),
    height: count('height', values.height),
    scalars: count('scalars', values.scalars),
    address: values.address,
  };
};

const main = async (): Promise<void> => {
  const spec = parseSpec(process.argv.slice(2));
  const sim = await startBsreadSimulator({
    address: spec.address ?? 'tcp://127.0.0.1:*',
    mode: spec.mode,
    rateHz: spec.rateHz,
    channels: senderChannels(spec),
    startPulseId: spec.startPulseId,
    maxMessages: spec.messages,
    ...(spec.mode === 'pub' ? { waitForSubscribers: 1 } : {}),
  });
  const stop = (): void => {
    void sim.stop().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop).on('error', stop).resume();
  process.stdout.write(`${JSON.stringify({ ready: true, address: sim.address })}\n`);

  // The first send is seen by polling: the simulator paces itself with timers, so a 1 ms poll
  // costs it nothing and misses the start by at most a millisecond.
  let firstAt = 0;
  let cpu0 = process.cpuUsage();
  const poll = setInterval(() => {
    if (sim.sent() > 0) {
      firstAt = performance.now();
      cpu0 = process.cpuUsage();
      clearInterval(poll);
    }
  }, 1);
  await sim.done;
  const endAt = performance.now();
  clearInterval(poll);
  const cpu = process.cpuUsage(cpu0);
  const sendMs = firstAt === 0 ? 0 : endAt - firstAt;
  const sent = sim.sent();
  const report: SenderReport = {
    done: true,
    sent,
    firstPulseId: spec.startPulseId,
    lastPulseId: sim.lastPulseId() ?? null,
    sendMs,
    rateHz: sendMs > 0 ? ((sent - 1) / sendMs) * 1000 : NaN,
    cpuCores: sendMs > 0 ? (cpu.user + cpu.system) / 1000 / sendMs : NaN,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
};

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`bsreadSenderChild: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
