import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessEntry {
  readonly pid: number;
  readonly ppid: number;
  readonly cmdline: string;
}

/** Parent and process group of a process, from /proc/<pid>/stat; undefined when it is gone. */
export const procStat = (pid: number | string): { ppid: number; pgrp: number } | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), pgrp: Number(fields[2]) };
  } catch {
    return undefined;
  }
};

/** Pids of every process, as /proc lists them. */
const allPids = (): string[] => readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));

/** Whether a process with this pid exists (signal 0). */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Pids of the processes whose process group is `pgid`. */
export const processGroupMembers = (pgid: number): number[] => allPids().filter((pid) => procStat(pid)?.pgrp === pgid).map(Number);

/** Every process whose command line mentions `text` (Linux /proc). */
export const processesMentioning = (text: string): ProcessEntry[] => {
  const found: ProcessEntry[] = [];
  for (const pid of allPids()) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      const stat = cmdline.includes(text) ? procStat(pid) : undefined;
      if (stat) found.push({ pid: Number(pid), ppid: stat.ppid, cmdline });
    } catch {
      // gone meanwhile
    }
  }
  return found;
};

/** Pids of the processes whose parent is `pid`. */
export const childrenOf = (pid: number): number[] => allPids().filter((entry) => procStat(entry)?.ppid === pid).map(Number);

/** SIGKILLs every process whose command line mentions `text`: what a failed test left behind. */
export const killProcessesMentioning = (text: string): void => {
  for (const p of processesMentioning(text)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
};

/** Resident memory of a process in bytes, from /proc/<pid>/status (VmRSS). */
export const rssBytes = (pid: number): number => {
  const line = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!line) throw new Error(`no VmRSS for ${pid}`);
  return Number(line[1]) * 1024;
};
