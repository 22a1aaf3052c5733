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
 * the file's clean ones; nothing is read or written through dd itself). The dd runs are started
 * by one small shell per thread, not by this process: a fork of a process holding a gigabyte of
 * ring buffer write-protects all of it, and the receiving thread then took a page fault on every
 * page it wrote (measured: twice the CPU per image). One release at a time per file, in the
 * background: the writer never waits for it, except in `settle()` before the file is closed.
 * When dd is missing or fails, releasing stops for that file and says why in `counters()`.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

export interface PageCacheRelease {
  /** Counts `bytes` more written; starts a release when enough have been written since the last one. */
  written(bytes: number): void;
  /** Resolves when no release is running (none is started after). */
  settle(): Promise<void>;
  /** Releases completed so far, and why releasing stopped, if it did. */
  counters(): { readonly releases: number; readonly stopped: string | null };
}

/** Reads file names, one per line, runs dd on each and answers its exit status, one per line. */
const LOOP = 'while IFS= read -r f; do "$0" of="$f" oflag=nocache conv=notrunc,fdatasync count=0 status=none; echo "$?"; done';

interface Releaser {
  readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  /** Answers still to come, in the order asked. */
  readonly waiting: Array<(answer: string) => void>;
  stderr: string;
}

/** This thread's shell, by dd command (one in practice; tests name a missing one). */
const releasers = new Map<string, Releaser>();

const releaserFor = (command: string): Releaser => {
  const existing = releasers.get(command);
  if (existing !== undefined) return existing;
  const child = spawn('sh', ['-c', LOOP, command], { stdio: ['pipe', 'pipe', 'pipe'] });
  const releaser: Releaser = { child, waiting: [], stderr: '' };
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s;
    for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      releaser.waiting.shift()?.(line === '0' ? '' : `dd exited with ${line}: ${releaser.stderr.trim() || 'no message'}`);
      releaser.stderr = '';
    }
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => (releaser.stderr = (releaser.stderr + s).slice(-500)));
  const gone = (why: string): void => {
    if (releasers.get(command) === releaser) releasers.delete(command);
    for (const answer of releaser.waiting.splice(0)) answer(why);
  };
  child.on('error', (e) => gone(`the shell that runs dd could not run: ${e.message}`));
  child.on('exit', (code, signal) => gone(`the shell that runs dd ended (${signal ?? `exit code ${code}`})`));
  child.stdin.on('error', () => undefined); // its end is reported by 'exit'
  // Neither the shell nor its pipes keep the process alive; stdin's end makes the shell leave.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as { unref?: () => void }).unref?.();
  releasers.set(command, releaser);
  return releaser;
};

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
  if (stopped === null && path.includes('\n')) stopped = 'the file name holds a newline';
  let settling = false;

  const start = (): void => {
    pending = 0;
    const releaser = releaserFor(command);
    running = new Promise<void>((resolve) => {
      releaser.waiting.push((problem) => {
        if (problem === '') releases++;
        else stopped ??= problem;
        resolve();
      });
      releaser.child.stdin.write(`${path}\n`);
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
