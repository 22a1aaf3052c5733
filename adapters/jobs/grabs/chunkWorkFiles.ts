/**
 * The work files of a grab run's chunks, in the run's work folder `<draftDir>/.daqflow-grab-<id>/`:
 *
 * - `chunk-000042.f64`: the chunk's samples, 16 bytes each: the time then the value, float64
 *   little-endian. Written under a hidden temporary name and renamed when complete.
 * - `chunk-000042.json`: the sidecar: what the chunk is (index, parameter, slice), its sample
 *   count, size and SHA-256, units, whether the channel was missing, and the chunk's statistics.
 *   Written last, also through a temporary name: a chunk is complete exactly when its sidecar
 *   exists.
 *
 * A crash therefore never leaves a half chunk under a final name, and the checksum catches a
 * samples file that is not the one its sidecar describes.
 *
 * Work files are not fsynced: a killed process loses nothing the page cache holds, and against a
 * power cut they would promise more than the event store does (JetStream syncs its file store
 * every two minutes by default). A work file lost that way makes `assemble` fail naming it; the
 * finished HDF5 file itself is synced before it is published.
 */
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { open, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { parameterStatisticsSchema } from '../../../actors/grabs/grabRun.events.js';
import { tokenPattern } from '../../../events/envelope.js';
import { DaqflowError } from '../../../events/errors.js';

/** Name of a run's work folder: `.daqflow-grab-<run id>` (hidden, and recognisable to clean up). */
export const WORK_DIR_PREFIX = '.daqflow-grab-';

export const workDirName = (runId: string): string => {
  // The id becomes a path component: only actor-id characters, so it cannot climb out with '..' or '/'.
  if (!tokenPattern.test(runId)) {
    throw new DaqflowError('INTERNAL', `grab run id ${JSON.stringify(runId)} is not an actor id; refusing it in a path`, { runId });
  }
  return `${WORK_DIR_PREFIX}${runId}`;
};

export const workDirOf = (draftDir: string, runId: string): string => join(draftDir, workDirName(runId));

/** Bytes of one sample in a samples file: time then value, float64 little-endian. */
export const SAMPLE_BYTES = 16;

const stem = (index: number): string => `chunk-${String(index).padStart(6, '0')}`;
export const chunkSamplesName = (index: number): string => `${stem(index)}.f64`;
export const chunkSidecarName = (index: number): string => `${stem(index)}.json`;

export const chunkSidecarSchema = z.object({
  version: z.literal(1),
  index: z.number().int().min(0),
  parameter: z.string(),
  from: z.string(),
  to: z.string(),
  samples: z.number().int().min(0),
  bytes: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  units: z.string().nullable(),
  missing: z.boolean(),
  /** The chunk's own statistics without a mode (the run's are computed when the file is assembled). */
  statistics: parameterStatisticsSchema,
});
export type ChunkSidecar = z.infer<typeof chunkSidecarSchema>;

const bigEndian = endianness() === 'BE';

/** Byte view of a buffer of float64 in little-endian order (swapped in place on a big-endian host). */
const littleEndian = (bytes: Buffer): Buffer => (bigEndian ? bytes.swap64() : bytes);

const temporaryName = (name: string): string => `.${name}.${randomUUID()}.tmp`;

/** Writes one chunk: samples as they come, then {@link ChunkWriter.commit} or {@link ChunkWriter.discard}. */
export interface ChunkWriter {
  append(times: Float64Array, values: Float64Array): Promise<void>;
  /** Renames the samples into place, then writes the sidecar: the chunk is complete. */
  commit(meta: Omit<ChunkSidecar, 'version' | 'index' | 'samples' | 'bytes' | 'sha256'>): Promise<ChunkSidecar>;
  /** Removes the temporary file; the chunk stays incomplete. */
  discard(): Promise<void>;
}

/**
 * Starts writing chunk `index` of the work folder. Removes the chunk's old sidecar first, so that
 * an older complete chunk is never paired with the samples being rewritten.
 */
export const openChunkWriter = async (workDir: string, index: number): Promise<ChunkWriter> => {
  const samplesPath = join(workDir, chunkSamplesName(index));
  const sidecarPath = join(workDir, chunkSidecarName(index));
  await rm(sidecarPath, { force: true });
  // A unique temporary name: two processes re-running the same chunk never write into one file.
  const tmpSamples = join(workDir, temporaryName(chunkSamplesName(index)));
  const fh = await open(tmpSamples, 'w');
  const hash: Hash = createHash('sha256');
  let samples = 0;
  let bytes = 0;
  let closed = false;

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await fh.close();
  };

  return {
    async append(times, values) {
      const n = times.length;
      if (n === 0) return;
      const interleaved = new Float64Array(2 * n);
      for (let i = 0; i < n; i++) {
        interleaved[2 * i] = times[i]!;
        interleaved[2 * i + 1] = values[i]!;
      }
      const buffer = littleEndian(Buffer.from(interleaved.buffer, interleaved.byteOffset, interleaved.byteLength));
      hash.update(buffer);
      let written = 0;
      while (written < buffer.length) {
        const { bytesWritten } = await fh.write(buffer, written, buffer.length - written);
        written += bytesWritten;
      }
      samples += n;
      bytes += buffer.length;
    },
    async commit(meta) {
      await close();
      await rename(tmpSamples, samplesPath);
      const sidecar: ChunkSidecar = { version: 1, index, samples, bytes, sha256: hash.digest('hex'), ...meta };
      const tmpSidecar = join(workDir, temporaryName(chunkSidecarName(index)));
      try {
        const sfh = await open(tmpSidecar, 'w');
        try {
          await sfh.writeFile(JSON.stringify(sidecar));
        } finally {
          await sfh.close();
        }
        await rename(tmpSidecar, sidecarPath);
      } catch (e) {
        await rm(tmpSidecar, { force: true });
        throw e;
      }
      return sidecar;
    },
    async discard() {
      await close().catch(() => undefined);
      await rm(tmpSamples, { force: true });
    },
  };
};

const unreadable = (path: string, why: string, cause?: unknown): DaqflowError =>
  new DaqflowError('INTERNAL', `chunk work file ${path} ${why}`, { path }, cause === undefined ? undefined : { cause });

/**
 * Reads chunk `index`'s sidecar, checking it describes that chunk of `parameter`. Throws, naming
 * the file, when it is missing (the chunk was never completed) or corrupt.
 */
export const readChunkSidecar = async (workDir: string, index: number, parameter: string): Promise<ChunkSidecar> => {
  const path = join(workDir, chunkSidecarName(index));
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw unreadable(path, `of chunk ${index} (${parameter}) cannot be read: the chunk was not completed (${String(e)})`, e);
  }
  let sidecar: ChunkSidecar;
  try {
    sidecar = chunkSidecarSchema.parse(JSON.parse(text));
  } catch (e) {
    throw unreadable(path, `of chunk ${index} (${parameter}) is corrupt: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  if (sidecar.index !== index || sidecar.parameter !== parameter) {
    throw unreadable(path, `describes chunk ${sidecar.index} of ${sidecar.parameter}, not chunk ${index} of ${parameter}`);
  }
  if (sidecar.bytes !== sidecar.samples * SAMPLE_BYTES) {
    throw unreadable(path, `is corrupt: ${sidecar.samples} samples cannot take ${sidecar.bytes} bytes`);
  }
  return sidecar;
};

/**
 * The samples of a complete chunk, in pieces of at most `pieceSamples`, so that reading a chunk
 * holds one piece at a time. Checks the file's size first and its checksum at the end: a file that
 * is not the one the sidecar describes throws, naming it.
 */
export async function* readChunkSamples(
  workDir: string,
  sidecar: ChunkSidecar,
  pieceSamples: number,
): AsyncGenerator<{ times: Float64Array; values: Float64Array }> {
  const path = join(workDir, chunkSamplesName(sidecar.index));
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw unreadable(path, `of chunk ${sidecar.index} (${sidecar.parameter}) cannot be read (${String(e)})`, e);
  }
  try {
    const size = (await stat(path)).size;
    if (size !== sidecar.bytes) {
      throw unreadable(path, `is corrupt: ${size} bytes where its sidecar says ${sidecar.bytes}`);
    }
    const hash = createHash('sha256');
    const piece = Buffer.allocUnsafe(Math.max(1, pieceSamples) * SAMPLE_BYTES);
    let position = 0;
    while (position < size) {
      const want = Math.min(piece.length, size - position);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(piece, got, want - got, position + got);
        if (bytesRead === 0) throw unreadable(path, `ended at ${position + got} bytes, before the ${size} its sidecar says`);
        got += bytesRead;
      }
      position += got;
      const bytes = piece.subarray(0, got);
      hash.update(bytes);
      // Float64Array needs 8-byte alignment, which a Buffer slice need not have: copy into one that has it.
      const copy = new Float64Array(got / 8);
      const copyBytes = Buffer.from(copy.buffer);
      bytes.copy(copyBytes);
      littleEndian(copyBytes);
      const n = got / SAMPLE_BYTES;
      const times = new Float64Array(n);
      const values = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        times[i] = copy[2 * i]!;
        values[i] = copy[2 * i + 1]!;
      }
      yield { times, values };
    }
    if (hash.digest('hex') !== sidecar.sha256) {
      throw unreadable(path, `is corrupt: its SHA-256 differs from the one its sidecar recorded`);
    }
  } finally {
    await fh.close();
  }
}
