/**
 * A process known by its pid *and* its start time, so that a pid written to disk before a
 * restart is never mistaken for another process that got the same number later. Linux /proc.
 */
import { readFileSync } from 'node:fs';

export interface ProcessIdentity {
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot. */
  readonly startTicks: number;
}

interface ProcStat {
  readonly state: string;
  readonly startTicks: number;
}

const readStat = (pid: number): ProcStat | null => {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces and parentheses itself.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const startTicks = Number(fields[19]);
  return state && Number.isFinite(startTicks) ? { state, startTicks } : null;
};

/** The identity of a running process, or null when it is not there. */
export const identify = (pid: number): ProcessIdentity | null => {
  const stat = readStat(pid);
  return stat ? { pid, startTicks: stat.startTicks } : null;
};

export type Liveness = 'alive' | 'gone' | 'replaced';

/** `replaced`: the pid now belongs to another process. A zombie is gone: it only awaits its parent. */
export const liveness = (process: ProcessIdentity): Liveness => {
  const stat = readStat(process.pid);
  if (!stat || stat.state === 'Z' || stat.state === 'X') return 'gone';
  return stat.startTicks === process.startTicks ? 'alive' : 'replaced';
};

/**
 * Signals the process group led by `leader`. Skipped when the pid now belongs to another
 * process. When the leader is gone its group may live on in its children; the group id cannot
 * be handed to a new group while they do, so signalling it reaches only them.
 */
export const signalGroup = (leader: ProcessIdentity, signal: NodeJS.Signals): void => {
  if (liveness(leader) === 'replaced') return;
  try {
    process.kill(-leader.pid, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
};
