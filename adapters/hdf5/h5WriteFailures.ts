/**
 * The file system's write errors, seen where h5wasm loses them.
 *
 * A write() that fails under HDF5 (ENOSPC on a full disk, EDQUOT, EIO) makes HDF5 print its error
 * stack on stderr and fail the H5Dwrite, but h5wasm drops that status: `set_dataset_data` (and so
 * `write_slice`) returns 0, `flush()` and `close()` return normally, and the file silently stops
 * growing while its writer counts on. Every write HDF5 makes goes through Emscripten's `FS.write`
 * (h5wasm's Node build is NODERAWFS: `fs.writeSync`), which throws an `ErrnoError` carrying the
 * errno's name: wrapping it once per h5wasm module keeps the first failure of each file, and the
 * writers look it up after their HDF5 calls (`throwIfWriteFailed`).
 */

/** The part of an Emscripten FS the wrapper touches. */
interface EmscriptenFs {
  write: (stream: { readonly path?: unknown }, ...rest: never[]) => number;
}

export interface H5WriteFailure {
  /** The errno's name, as Node gives it: `ENOSPC`, `EDQUOT`, `EIO`. */
  readonly errno: string;
  readonly message: string;
}

/** By path, as HDF5 opened the file (the path the writer gave h5wasm). */
const failures = new Map<string, H5WriteFailure>();
const watched = new WeakSet<object>();

/** Wraps `fs.write` of an h5wasm module, once (each worker thread has its own module). */
export const watchH5Writes = (fs: unknown): void => {
  const target = fs as EmscriptenFs;
  if (watched.has(target)) return;
  watched.add(target);
  const write = target.write;
  target.write = function (this: unknown, stream, ...rest) {
    try {
      return write.call(this, stream, ...rest);
    } catch (e) {
      const path = stream?.path;
      if (typeof path === 'string' && !failures.has(path)) {
        const { code, message } = (e ?? {}) as { code?: unknown; message?: unknown };
        failures.set(path, { errno: typeof code === 'string' ? code : 'EIO', message: typeof message === 'string' ? message : String(e) });
      }
      throw e;
    }
  };
};

/** Forgets the file's failure: call when opening a file (a draft of the same name) and after closing it. */
export const forgetH5WriteFailure = (path: string): void => {
  failures.delete(path);
};

export const h5WriteFailureOf = (path: string): H5WriteFailure | undefined => failures.get(path);

/** Throws if a write to `path` failed since it was opened: the path and the errno in the message, and as `path`/`code` (as Node's errors). */
export const throwIfWriteFailed = (path: string): void => {
  const failure = failures.get(path);
  if (failure === undefined) return;
  throw Object.assign(new Error(`writing ${path} failed: ${failure.errno} (${failure.message})`), { code: failure.errno, path });
};
