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
 * by one small shell, not by this process: a fork of a process holding a gigabyte of ring buffer
 * write-protects all of it, and every page written after takes a fault (measured: twice the CPU
 * per image when dd was spawned from here). The shell is itself a fork, so there is one per
 * process, started early by `startPageCacheReleaser()` while the process is small; writer threads
 * reach it through a MessagePort (`servePageCacheRelease` on the main thread,
 * `usePageCacheReleasePort` in the thread). A shell per writer thread, as before, cost a fork of
 * the whole process per acquisition: 240,000 write-protect faults in the next 5 s at 400 images/s.
 * One release at a time per file, in the background: the writer never waits for it, except in
 * `settle()` before the file is closed. When dd is missing or fails, releasing stops for that
 * file and says why in `counters()`.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { MessagePort } from 'node:worker_threads';

export interface PageCacheRelease {
  /** Counts `bytes` more written; starts a release when enough have been written since the last one. */
  written(bytes: number): void;
  /** Resolves when no release is running (none is started after). */
  settle(): Promise<void>;
  /** Releases completed so far, and why releasing stopped, if it did. */
  counters(): { readonly releases: number; readonly stopped: string | null };
}

/**
 * Reads file names, one per line, runs dd on each and answers its exit status and what it said,
 * on one line (on stdout with the status: on stderr it could arrive after the status).
 */
const LOOP =
  'while IFS= read -r f; do e=$("$0" of="$f" oflag=nocache conv=notrunc,fdatasync count=0 status=none 2>&1); s=$?; ' +
  'printf "%s %s\\n" "$s" "$(printf %s "$e" | tr "\\n" " ")"; done';

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
  createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
    const space = line.indexOf(' ');
    const status = space < 0 ? line : line.slice(0, space);
    const said = (space < 0 ? '' : line.slice(space + 1)).trim() || releaser.stderr.trim() || 'no message';
    releaser.waiting.shift()?.(status === '0' ? '' : `dd exited with ${status}: ${said.slice(0, 500)}`);
    releaser.stderr = '';
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

/** Asks this thread's shell to release `path`; resolves to '' when done, else what went wrong. */
const releaseHere = (path: string, command: string): Promise<string> => {
  let releaser: Releaser;
  try {
    // A shell that died is started again here: a fork of a process that may be big by now, and
    // one that can fail (out of memory, out of file descriptors). It must never throw out of here:
    // on the main thread this runs in a MessagePort listener.
    releaser = releaserFor(command);
  } catch (e) {
    return Promise.resolve(`the shell that runs dd could not be started: ${e instanceof Error ? e.message : String(e)}`);
  }
  return new Promise<string>((resolve) => {
    releaser.waiting.push(resolve);
    releaser.child.stdin.write(`${path}\n`);
  });
};

interface ReleaseRequest {
  readonly id: number;
  readonly path: string;
  readonly command: string;
}
interface ReleaseAnswer {
  readonly id: number;
  readonly problem: string;
}

/** In a writer thread: the main thread's shell, reached through this port. */
let remote:
  | { readonly port: MessagePort; readonly answers: Map<number, (problem: string) => void>; nextId: number; closed: boolean }
  | undefined;

/** In a writer thread: send releases to the main thread (see `servePageCacheRelease`) instead of forking. */
export const usePageCacheReleasePort = (port: MessagePort): void => {
  const answers = new Map<number, (problem: string) => void>();
  const here = { port, answers, nextId: 0, closed: false };
  remote = here;
  port.on('message', (m: ReleaseAnswer) => {
    answers.get(m.id)?.(m.problem);
    answers.delete(m.id);
  });
  port.on('close', () => {
    here.closed = true;
    for (const answer of answers.values()) answer(PORT_CLOSED);
    answers.clear();
  });
  port.unref();
};

/** On the main thread: run the releases a writer thread sends through `port` with this process's shell. */
export const servePageCacheRelease = (port: MessagePort): void => {
  port.on('message', (m: ReleaseRequest) => {
    void releaseHere(m.path, m.command).then((problem) => {
      const answer: ReleaseAnswer = { id: m.id, problem };
      try {
        port.postMessage(answer);
      } catch {
        // The thread is gone: nobody waits for the answer.
      }
    });
  });
  port.unref();
};

/** Starts this process's shell now, while the process is small (its fork is cheap then). */
export const startPageCacheReleaser = (command = 'dd'): void => {
  if (remote === undefined) releaserFor(command);
};

const PORT_CLOSED = 'the main thread stopped answering page-cache releases';

const release = (path: string, command: string): Promise<string> => {
  if (remote === undefined) return releaseHere(path, command);
  // A closed port drops what is posted: settle() would wait for ever.
  if (remote.closed) return Promise.resolve(PORT_CLOSED);
  const { port, answers } = remote;
  const id = remote.nextId++;
  return new Promise<string>((resolve) => {
    answers.set(id, resolve);
    const request: ReleaseRequest = { id, path, command };
    port.postMessage(request);
  });
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
    running = release(path, command).then((problem) => {
      if (problem === '') releases++;
      else stopped ??= problem;
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
