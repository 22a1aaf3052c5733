/**
 * Reads a file back with h5py, the library sf_bsread_writer's users read these files with, so that
 * a test sees what they see and not only what h5wasm (the writer's own library) sees. Runs
 * `python3` (Debian: `apt-get install python3-h5py`); when the first `python3` on the PATH has no
 * h5py, /usr/bin/python3 is tried. A machine with neither fails the test saying so.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const CANDIDATES = ['python3', '/usr/bin/python3'];
let found: Promise<string> | undefined;

/** The first python3 that imports h5py. */
const pythonWithH5py = (): Promise<string> =>
  (found ??= (async () => {
    const tried: string[] = [];
    for (const python of CANDIDATES) {
      try {
        await run(python, ['-c', 'import h5py'], { timeout: 30_000 });
        return python;
      } catch (e) {
        tried.push(`${python}: ${(e as Error).message.split('\n')[0] ?? ''}`);
      }
    }
    throw new Error(`no python3 with h5py (apt-get install python3-h5py): ${tried.join('; ')}`);
  })());

/** Runs `script` with `sys.argv[1]` = `path` and parses what it prints as JSON. */
export const h5py = async <T>(path: string, script: string): Promise<T> => {
  const python = await pythonWithH5py();
  const { stdout } = await run(python, ['-c', `import h5py, json, sys\n${script}`, path], { timeout: 60_000, maxBuffer: 64 * 1024 ** 2 });
  return JSON.parse(stdout) as T;
};

/** `/general/*` as h5py reads them: whether the value is `bytes`, its numpy dtype, its HDF5 character set (0 ASCII, 1 UTF-8), its text. */
export interface H5pyGeneral {
  readonly [field: string]: { readonly isBytes: boolean; readonly kind: string; readonly dtype: string; readonly cset: number; readonly text: string };
}

export const h5pyGeneral = (path: string): Promise<H5pyGeneral> =>
  h5py<H5pyGeneral>(
    path,
    `f = h5py.File(sys.argv[1], 'r')
out = {}
for k in f['general']:
    d = f['general'][k]
    v = d[()]
    out[k] = {'isBytes': isinstance(v, bytes), 'kind': d.dtype.kind, 'dtype': str(d.dtype), 'cset': d.id.get_type().get_cset(),
              'text': v.decode('utf-8') if isinstance(v, bytes) else str(v)}
print(json.dumps(out))`,
  );

/** Every channel's `pulse_id` and `is_data_present`, as h5py reads them. */
export const h5pyRows = (path: string): Promise<Record<string, { pulseIds: number[]; present: number[] }>> =>
  h5py(
    path,
    `f = h5py.File(sys.argv[1], 'r')
print(json.dumps({k: {'pulseIds': [int(x) for x in f['data'][k]['pulse_id'][()]], 'present': [int(x) for x in f['data'][k]['is_data_present'][()]]} for k in f['data']}))`,
  );

/** One group or dataset as h5py sees it (test/harness/h5pyDescribe.py). */
export interface H5pyObject {
  readonly kind: 'group' | 'dataset';
  readonly attrs: Record<string, unknown>;
  /** Groups: their link names, in h5py's order. */
  readonly keys?: string[];
  /** Datasets: numpy `dtype.str` (`<i8`, `|u1`, `|O`, `|S7`…), shape, and string type if any. */
  readonly dtype?: string;
  readonly shape?: number[];
  readonly string?: { readonly encoding: string; readonly length: number | null } | null;
  /** Numeric datasets: their little-endian bytes in C order, as hex. */
  readonly le_hex?: string;
  /** String datasets: the text (a list for arrays); whether a scalar read back as `bytes`. */
  readonly text?: string | string[];
  readonly isBytes?: boolean;
}

/** Every link of a file (by path, `/` for the root) as h5py reads it. */
export const h5pyDescribe = (path: string): Promise<Record<string, H5pyObject>> =>
  h5py(path, readFileSync(join(import.meta.dirname, 'h5pyDescribe.py'), 'utf8'));
