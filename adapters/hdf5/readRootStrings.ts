import { open } from 'node:fs/promises';
import { loadH5wasm } from './loadH5wasm.js';

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

/**
 * The string attributes `names` of the root group of the HDF5 file at `path`, as a finished file
 * of daqflow's records whose it is; those missing or not strings are left out. Undefined when
 * there is no such file or it is not HDF5: anything else is never given to HDF5, which would say
 * why on stderr.
 */
export const readRootStrings = async <K extends string>(path: string, names: readonly K[]): Promise<Partial<Record<K, string>> | undefined> => {
  if (!(await startsAsHdf5(path).catch(() => false))) return undefined;
  const h5wasm = await loadH5wasm();
  let file: InstanceType<typeof h5wasm.File> | undefined;
  try {
    file = new h5wasm.File(path, 'r');
    const found: Partial<Record<K, string>> = {};
    for (const name of names) {
      const value = file.attrs[name]?.value;
      if (typeof value === 'string') found[name] = value;
    }
    return found;
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
