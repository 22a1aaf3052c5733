import { InvalidArgumentError, type Command } from 'commander';
import type { BsreadChannelInput } from '../bsread/bsreadEncoder.js';
import type { BsreadCompression } from '../bsread/bsreadMessage.js';
import { defaultSimulatedChannels, startBsreadSimulator } from '../bsread/bsreadSimulator.js';
import { choice, positiveWholeNumber, wholeNumber } from './parsers.js';

interface SimulateOptions {
  readonly address: string;
  readonly mode: 'push' | 'pub';
  readonly rate: number;
  readonly scalars?: number;
  readonly image?: { width: number; height: number };
  readonly waveform?: number;
  readonly compression: BsreadCompression;
  readonly byteOrder: 'little' | 'big';
  readonly startPulse?: number;
  readonly count?: number;
  readonly gapEvery?: number;
  readonly missingEvery?: number;
}

const positive = (what: string) => (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${what}: a number above 0`);
  return n;
};
const imageSize = (value: string): { width: number; height: number } => {
  const m = /^(\d+)x(\d+)$/i.exec(value.trim());
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new InvalidArgumentError('WIDTHxHEIGHT, e.g. 1024x1280');
  return { width: Number(m[1]), height: Number(m[2]) };
};
/** The channels asked for: scalars, an image and a waveform when given; else the default mix of every type. */
export const simulatedChannels = (o: Pick<SimulateOptions, 'scalars' | 'image' | 'waveform'>): BsreadChannelInput[] => {
  if (o.scalars === undefined && o.image === undefined && o.waveform === undefined) return defaultSimulatedChannels();
  return [
    ...Array.from({ length: o.scalars ?? 0 }, (_, i) => ({ name: `SIM:SCALAR:${String(i).padStart(3, '0')}`, type: 'float64' as const, shape: [1] })),
    ...(o.waveform ? [{ name: 'SIM:WAVE:FLOAT64', type: 'float64' as const, shape: [o.waveform] }] : []),
    // bsread shapes are fastest-varying first: an image of `width` columns is [width, height].
    ...(o.image ? [{ name: 'SIM:CAMERA:FPICTURE', type: 'uint16' as const, shape: [o.image.width, o.image.height] }] : []),
  ];
};

const runSimulateBsread = async (o: SimulateOptions): Promise<void> => {
  const channels = simulatedChannels(o);
  if (channels.length === 0) throw new InvalidArgumentError('no channels: give --scalars, --image or --waveform (or none of them for the default mix)');
  const startPulseId = o.startPulse ?? Math.floor(Date.now() / 10);
  const gaps =
    o.gapEvery === undefined
      ? undefined
      : // A finite list: the simulator keeps its gaps in a set; a day at 100 Hz is plenty for a demo.
        Array.from({ length: Math.ceil((o.count ?? 8_640_000) / o.gapEvery) }, (_, k) => startPulseId + (k + 1) * o.gapEvery! - 1);
  const sim = await startBsreadSimulator({
    address: o.address,
    mode: o.mode,
    rateHz: o.rate,
    channels,
    startPulseId,
    compression: o.compression,
    byteOrder: o.byteOrder,
    wallClock: true,
    ...(gaps ? { gaps } : {}),
    ...(o.missingEvery ? { missingEvery: o.missingEvery } : {}),
    ...(o.count ? { maxMessages: o.count } : {}),
  });
  process.stderr.write(
    `bsread simulator: ${o.mode} on ${sim.address}, ${o.rate} Hz, ${channels.length} channels, compression ${o.compression}, ${o.byteOrder}-endian, from pulse ${startPulseId}\n` +
      `connect daqflow with: DAQFLOW_BSREAD_STREAM=${sim.address} DAQFLOW_BSREAD_MODE=${o.mode === 'pub' ? 'sub' : 'pull'} npx daqflow up\n`,
  );
  let lastSent = 0;
  let lastAt = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const sent = sim.sent();
    process.stderr.write(`sent ${sent} pulses, last ${sim.lastPulseId() ?? '-'}, ${(((sent - lastSent) * 1_000) / (now - lastAt)).toFixed(0)}/s\n`);
    lastSent = sent;
    lastAt = now;
  }, 5_000);
  const stop = (): void => {
    void sim.stop();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await sim.done;
  } finally {
    clearInterval(timer);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  process.stderr.write(`bsread simulator stopped after ${sim.sent()} pulses\n`);
};

/** Adds `daqflow simulate bsread`. */
export const registerSimulateCommands = (program: Command): void => {
  const simulate = program.command('simulate').description('stand-ins for facility sources, for demos, tests and benchmarks');
  simulate
    .command('bsread')
    .description('send a bsread stream over ZeroMQ, as a camera server or an IOC does')
    .option('--address <endpoint>', 'where to bind: tcp://host:port, tcp://127.0.0.1:* for any free port, or ipc://path', 'tcp://127.0.0.1:9999')
    .option('--mode <mode>', 'push (one consumer, back-pressure) or pub (any number, drops when slow)', choice(['push', 'pub'] as const), 'push')
    .option('--rate <hz>', 'pulses per second', positive('--rate'), 100)
    .option('--scalars <n>', 'this many float64 scalar channels', wholeNumber)
    .option('--image <WxH>', 'a uint16 camera image of this size, e.g. 1024x1280', imageSize)
    .option('--waveform <n>', 'a float64 waveform of this length', wholeNumber)
    .option('--compression <c>', 'value compression: none, bitshuffle_lz4 or lz4', choice(['none', 'bitshuffle_lz4', 'lz4'] as const), 'none')
    .option('--byte-order <order>', 'little or big', choice(['little', 'big'] as const), 'little')
    .option('--start-pulse <id>', 'first pulse id (default: 100 Hz counted from the epoch)', wholeNumber)
    .option('--count <n>', 'stop after this many pulses (default: until Ctrl-C)', positiveWholeNumber)
    .option('--gap-every <n>', 'leave out every n-th pulse id (a gap in the stream)', positiveWholeNumber)
    .option('--missing-every <n>', 'a channel without value every n pulses', positiveWholeNumber)
    .addHelpText(
      'after',
      `
Without --scalars, --image or --waveform the stream has one channel of every bsread type,
waveforms, a 2-D array and a 64x48 image. Values are a pure function of channel and pulse id,
so tests can check every row written.

Examples:
  npx daqflow simulate bsread                                  # 100 Hz, every type, on :9999
  npx daqflow simulate bsread --image 1024x1280 --rate 100 --compression bitshuffle_lz4
  npx daqflow simulate bsread --scalars 200 --rate 1000 --mode pub --address tcp://127.0.0.1:9998`,
    )
    .action((o: SimulateOptions) => runSimulateBsread(o));
};
