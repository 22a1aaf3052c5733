/**
 * A throwaway file written by a writer thread before its first acquisition, so that the first
 * acquisition after `daqflow up` is written as fast as the later ones. In a new thread the
 * writer's code and h5wasm's are cold: the first file of 200 scalar channels took about three
 * times as long over its first pulses as the third (docs/acquisitions.md,
 * "Cold start"), long enough at 2 kHz for the ring buffer to overtake its reader.
 *
 * The file covers what every acquisition does: the groups and datasets of many channels, a few
 * chunks of rows written, missing rows, a type change, a string channel, an image row written
 * straight through, and the finish (trim, links, fsync, rename). It is written in a
 * temporary folder of its own and removed.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import type { BsreadChannelConfig, BsreadMessage, BsreadType } from '../bsread/bsreadMessage.js';
import { BsreadValues } from '../bsread/bsreadValues.js';
import { openSwissfelFile } from './swissfelWriter.js';

const PULSES = 150;
/** Small chunks, so that a few hundred pulses fill several of them. */
const CHUNK_ROWS = 40;
const SCALARS = 32;
/** Pulses written between two looks at `stop`. */
const PULSES_PER_TURN = 10;

const channel = (name: string, type: BsreadType, shape: number[]): BsreadChannelConfig => ({
  name,
  type,
  shape,
  encoding: 'little',
  compression: 'none',
  modulo: 1,
  offset: 0,
});

const BYTES: Record<BsreadType, number> = {
  bool: 1,
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  int64: 8,
  uint64: 8,
  float32: 4,
  float64: 8,
  string: 1,
};

const channelsBefore: readonly BsreadChannelConfig[] = [
  ...Array.from({ length: SCALARS }, (_, i) => channel(`WARM:SCALAR:${i}`, 'float64', [1])),
  channel('WARM:INT', 'int32', [1]),
  channel('WARM:STRING', 'string', [1]),
  channel('WARM:WAVE', 'float32', [256]),
  channel('WARM:IMAGE', 'uint16', [128, 128]),
];
// A type change half-way, as a camera reconfigured during an acquisition.
const channelsAfter: readonly BsreadChannelConfig[] = channelsBefore.map((c) => (c.name === 'WARM:INT' ? channel('WARM:INT', 'float64', [1]) : c));

const messageAt = (pulseId: number, channels: readonly BsreadChannelConfig[], image: Uint8Array): BsreadMessage => {
  const stamp = { sec: 1_700_000_000 + Math.floor(pulseId / 100), ns: (pulseId % 100) * 10_000_000 };
  const values = channels.map((c) => {
    const bytes = c.type === 'string' ? new TextEncoder().encode(`pulse ${pulseId}`) : c.name === 'WARM:IMAGE' ? image : new Uint8Array(c.shape.reduce((a, b) => a * b, 1) * BYTES[c.type]);
    return { bytes, timestamp: stamp };
  });
  return { pulseId, globalTimestamp: stamp, hash: channels === channelsBefore ? 'before' : 'after', channels, values: BsreadValues.from(values), wireBytes: 0 };
};

const FOLDER_PREFIX = 'daqflow-writer-warm-up-';

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Removes the warm-up folders of processes that no longer run. */
const removeStaleFolders = async (): Promise<void> => {
  for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
    const pid = Number(/^daqflow-writer-warm-up-(\d+)-/.exec(name)?.[1]);
    if (!Number.isSafeInteger(pid) || pid === process.pid || isAlive(pid)) continue;
    await rm(join(tmpdir(), name), { recursive: true, force: true }).catch(() => undefined);
  }
};

/**
 * Writes and removes one file in a temporary folder, unless `stop` says to give way first; resolves
 * with the milliseconds it took and whether it wrote the whole file.
 */
export const warmUpSwissfelWriter = async (stop: () => boolean = () => false): Promise<{ ms: number; complete: boolean }> => {
  const started = performance.now();
  await removeStaleFolders();
  const dir = await mkdtemp(join(tmpdir(), `${FOLDER_PREFIX}${process.pid}-${threadId}-`));
  try {
    const writer = await openSwissfelFile({ outputFile: 'warm-up.h5', dataRoot: dir, chunkRows: CHUNK_ROWS, releasePageCacheEveryBytes: 0 });
    const image = new Uint8Array(128 * 128 * 2);
    for (let p = 1; p <= PULSES; p++) {
      if (p % PULSES_PER_TURN === 0) {
        await nextTurn();
        if (stop()) {
          await writer.abort();
          return { ms: performance.now() - started, complete: false };
        }
      }
      if (p % 47 === 0) continue; // a gap: missing rows
      writer.writePulse(p, p % 41 === 0 ? null : messageAt(p, p < PULSES / 2 ? channelsBefore : channelsAfter, image));
    }
    await writer.finish();
    return { ms: performance.now() - started, complete: true };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};
