/**
 * Gives the pages of a file being written back to the kernel as it grows, so that a long
 * acquisition does not fill the page cache with data nobody reads from there.
 *
 * Why: every page the cache takes from free memory is a fresh page, and on a virtual machine whose
 * memory the hypervisor backs lazily, the first touch of a page costs a fault in the host as
 * well: write(2) of one 2.6 MB image measured 6.4-8 ms into fresh pages here, against 0.6 ms into
 * pages freed a moment before. Dropping the written pages keeps the cache recycling the same ones
 * (a writer on its own sustained 800 images/s instead of 137 on this VM), and on any machine it
 * keeps the file's dirty data bounded and leaves the cache to what is read.
 *
 * How: Node has no posix_fadvise, and no npm package offers one without a native build, so it runs
 * coreutils `dd of=FILE oflag=nocache conv=notrunc,fdatasync count=0`, the coreutils manual's way
 * of dropping a file's cache (fdatasync writes the dirty pages, then POSIX_FADV_DONTNEED drops
 * the file's clean ones; nothing is read or written through dd itself). One at a time, in the
 * background: the writer never waits for it, except in `settle()` before the file is closed.
 * When dd is missing or fails, releasing stops and the file is written as before.
 */
import { spawn } from 'node:child_process';

export interface PageCacheRelease {
  /** Counts `bytes` more written; starts a release when enough have been written since the last one. */
  written(bytes: number): void;
  /** Resolves when no release is running (none is started after). */
  settle(): Promise<void>;
  /** Releases started and completed so far, and why releasing stopped, if it did. */
  counters(): { readonly releases: number; readonly stopped: string | null };
}

export const createPageCacheRelease = (
  path: string,
  everyBytes: number,
  /** The dd to run (a test names one that does not exist). */
  command = 'dd',
): PageCacheRelease => {
  let pending = 0;
  let running: Promise<void> | undefined;
  let releases = 0;
  let stopped: string | null = everyBytes > 0 ? null : 'disabled';
  let settling = false;

  const start = (): void => {
    pending = 0;
    running = new Promise<void>((resolve) => {
      const child = spawn(command, [`of=${path}`, 'oflag=nocache', 'conv=notrunc,fdatasync', 'count=0', 'status=none'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-500)));
      child.on('error', (e) => {
        stopped = `dd could not run: ${e.message}`;
        resolve();
      });
      child.on('close', (code) => {
        if (code === 0) releases++;
        else if (stopped === null) stopped = `dd exited with ${code}: ${stderr.trim()}`;
        resolve();
      });
    }).then(() => {
      running = undefined;
    });
  };

  return {
    written: (bytes) => {
      if (stopped !== null || settling) return;
      pending += bytes;
      if (pending >= everyBytes && running === undefined) start();
    },
    settle: async () => {
      settling = true;
      await running;
    },
    counters: () => ({ releases, stopped }),
  };
};
