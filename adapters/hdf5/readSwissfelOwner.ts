import { open, stat } from 'node:fs/promises';
import { loadH5wasm } from './loadH5wasm.js';
import { swissfelAttrs } from './swissfelLayout.js';
import type { SwissfelFileStats } from './swissfelWriter.js';

/** A finished SwissFEL file as its writer left it: whose it is and what was written. */
export interface PublishedSwissfelFile {
  readonly acquisitionId: string;
  readonly stats: SwissfelFileStats;
  readonly bytes: number;
}

/** The HDF5 signature, which daqflow's files (no user block) have at offset 0. */
const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

const startsAsHdf5 = async (path: string): Promise<boolean> => {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(HDF5_SIGNATURE.length);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return bytesRead === head.length && head.equals(HDF5_SIGNATURE);
  } finally {
    await handle.close();
  }
};

const isStats = (value: unknown): value is SwissfelFileStats => {
  const v = value as Partial<Record<keyof SwissfelFileStats, unknown>> | null;
  const idOrNull = (x: unknown): boolean => x === null || (typeof x === 'number' && Number.isSafeInteger(x) && x >= 0);
  const count = (x: unknown): boolean => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  return typeof v === 'object' && v !== null && idOrNull(v.firstPulseId) && idOrNull(v.lastPulseId) && count(v.rows) && count(v.pulsesWithMessage) && count(v.pulsesMissing);
};

/**
 * Reads which acquisition a finished file at `path` was written for, and its writer's summary
 * (the root attributes `daqflow_acquisition` and `daqflow_summary`). Undefined when there is no
 * file, when it is not HDF5, or when it lacks either attribute (a file from elsewhere, or from a
 * daqflow before they were written): such a file is never taken for an acquisition's own.
 */
export const readSwissfelOwner = async (path: string): Promise<PublishedSwissfelFile | undefined> => {
  const bytes = await stat(path).then((s) => (s.isFile() ? s.size : undefined), () => undefined);
  // Anything else is not given to HDF5, which would say why on stderr.
  if (bytes === undefined || !(await startsAsHdf5(path).catch(() => false))) return undefined;
  const h5wasm = await loadH5wasm();
  let file: InstanceType<typeof h5wasm.File> | undefined;
  try {
    file = new h5wasm.File(path, 'r');
    const acquisitionId = file.attrs[swissfelAttrs.acquisition]?.value;
    const summary = file.attrs[swissfelAttrs.summary]?.value;
    if (typeof acquisitionId !== 'string' || typeof summary !== 'string') return undefined;
    const stats: unknown = JSON.parse(summary);
    return isStats(stats) ? { acquisitionId, stats, bytes } : undefined;
  } catch {
    return undefined;
  } finally {
    try {
      file?.close();
    } catch {
      // a file that did not open has nothing to close
    }
  }
};
