import { readFileSync } from 'node:fs';

/** True when a process with this pid exists and its command line mentions `name`. */
export const isProcessAlive = (pid: number, name: string): boolean => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(name);
  } catch {
    // No /proc (not Linux): the signal check above is all we have.
    return true;
  }
};

/**
 * A server a previous run started and could not stop (it was killed with SIGKILL) keeps
 * running; its pid file says where. Reusing it beats a second server on the same data.
 */
export const readOrphan = (pidFile: string, name: string): { pid: number; port: number } | undefined => {
  let lines: string[];
  try {
    lines = readFileSync(pidFile, 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  // Postgres writes the port on line 4 of postmaster.pid; our nats pid file on line 2.
  const port = Number(name === 'postgres' ? lines[3] : lines[1]);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || port <= 0) return undefined;
  return isProcessAlive(pid, name) ? { pid, port } : undefined;
};

/** Stops an adopted server by pid and waits (up to `ms`) for it to go. */
export const stopPid = async (pid: number, signal: NodeJS.Signals, name: string, ms = 10_000): Promise<void> => {
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  const end = Date.now() + ms;
  while (isProcessAlive(pid, name) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  if (isProcessAlive(pid, name)) process.kill(pid, 'SIGKILL');
};
