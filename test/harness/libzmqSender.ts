/**
 * Runs bench/bsreadLibzmqSender.c (built by bench/buildSender.ts) as a child process, and what
 * it sends recomputed in TypeScript from the formulas in that file's header, so that a reader of
 * the stream or of an HDF5 file can check every value.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { buildBsreadSender } from '../../bench/buildSender.js';

/** The sender's closing line (see bsreadLibzmqSender.c). */
export interface SenderSummary {
  readonly done: true;
  readonly mode: 'push' | 'pub';
  readonly bind: string;
  readonly kind: 'scalars' | 'image';
  readonly channels: number;
  readonly rateHz: number;
  readonly sent: number;
  readonly firstPulseId: number;
  readonly lastPulseId: number | null;
  readonly seconds: number;
  readonly achievedHz: number;
  readonly messageBytes: number;
  readonly mbPerSecond: number;
  readonly sndhwm: number;
  readonly dropped: number;
  readonly late: number;
  readonly maxLateMs: number;
  readonly stalls: number;
  readonly maxStallMs: number;
  readonly copiedFrames?: number;
  readonly cpuSeconds: number;
  readonly stoppedBy: 'pulses' | 'seconds' | 'signal' | 'no-peer' | 'stalled' | 'error';
}

export interface RunningSender {
  readonly child: ChildProcess;
  /** The address it bound (ZMQ_LAST_ENDPOINT: the real port when asked for `*`). */
  readonly endpoint: string;
  /** Settles with the first and last pulse ids once a peer is there and sending begins. */
  readonly sending: Promise<{ first: number; last: number }>;
  /** Settles with the exit code and the summary line (undefined when none was printed). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; summary: SenderSummary | undefined; stderr: string }>;
  stderr(): string;
  kill(signal?: NodeJS.Signals): void;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** SIGKILLs every sender still running (for afterAll), and waits for them to be gone. */
export const killAllSenders = async (): Promise<void> => {
  const gone = [...running].map((child) => new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r))));
  for (const child of running) child.kill('SIGKILL');
  await Promise.all(gone);
  running.clear();
};

/** Starts the sender with `args` (its own flags) and resolves once it has bound its socket. */
export const startLibzmqSender = async (args: readonly string[]): Promise<RunningSender> => {
  const binary = buildBsreadSender();
  const child = spawn(binary, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; summary: SenderSummary | undefined; stderr: string }>((resolve) => {
    child.once('close', (code, signal) => {
      running.delete(child);
      const line = out.split('\n').find((l) => l.startsWith('{"done":true'));
      resolve({ code, signal, summary: line === undefined ? undefined : (JSON.parse(line) as SenderSummary), stderr: err });
    });
  });
  const lineMatching = <T>(pattern: RegExp, map: (m: RegExpMatchArray) => T): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const check = (): boolean => {
        const m = err.match(pattern);
        if (m === null) return false;
        child.stderr!.off('data', check);
        resolve(map(m));
        return true;
      };
      if (check()) return;
      child.stderr!.on('data', check);
      void exited.then((e) => {
        if (!check()) reject(new Error(`the sender exited (code ${e.code}, signal ${e.signal}) before printing ${pattern}:\n${e.stderr}`));
      });
    });
  const endpoint = await lineMatching(/bound to (\S+),/, (m) => m[1]!);
  const sending = lineMatching(/sending pulses (\d+)\.\.(\d+)/, (m) => ({ first: Number(m[1]), last: Number(m[2]) }));
  // A test that never awaits `sending` (a sender stopped before a peer came) must not see it reject unhandled.
  sending.catch(() => undefined);
  return {
    child,
    endpoint,
    sending,
    exited,
    stderr: () => err,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
};

/** Scalar channel `i` of the sender (with the default prefix). */
export const senderScalarName = (i: number): string => `SENDER:SCALAR:${String(i).padStart(3, '0')}`;
export const SENDER_IMAGE_NAME = 'SENDER:IMAGE';

/** Scalar channel `i`'s value in pulse `pulseId`. */
export const senderScalarValue = (pulseId: number, i: number): number => pulseId * 1000 + i;

/** The image of pulse `pulseId`, `pixels` uint16 values in bsread (wire) order. */
export const senderImage = (pulseId: number, pixels: number): Uint16Array => {
  const image = new Uint16Array(pixels);
  let id = BigInt(pulseId);
  for (let w = 0; w < 4; w++, id >>= 16n) image[w] = Number(id & 0xffffn);
  for (let k = 4; k < pixels; k++) image[k] = (Math.imul(k, 7919) + 17) & 0xffff;
  return image;
};
