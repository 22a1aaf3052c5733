/**
 * Wrapper scripts around the real Slurm commands, for DAQFLOW_SLURM_BIN_DIR: each call appends a
 * line (`<command> <args…>`) to a log and then runs the real command in /usr/bin with SLURM_CONF of
 * the test cluster, so a spec can count how often daqflow called sbatch, squeue and scancel.
 *
 * `sbatchDelay` holds back sbatch's answer for the jobs whose arguments match a pattern: the job
 * is already in Slurm while daqflow still waits for its id. A kill in that moment is the crash
 * between submitting a job and recording it.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SLURM_COMMANDS = ['sbatch', 'squeue', 'scancel'] as const;
export type SlurmCommand = (typeof SLURM_COMMANDS)[number];

export interface SlurmWrapperOptions {
  /** Folder of the wrappers (created); the log is `calls.log` in it. */
  readonly dir: string;
  /** SLURM_CONF of the cluster the real commands talk to. */
  readonly slurmConf: string;
  /** Folder of the real commands. Default /usr/bin. */
  readonly realBinDir?: string;
  /** sbatch calls whose arguments contain `match` answer only `seconds` after the job was submitted. */
  readonly sbatchDelay?: { readonly match: string; readonly seconds: number };
}

export interface SlurmWrappers {
  /** For DAQFLOW_SLURM_BIN_DIR. */
  readonly binDir: string;
  readonly logPath: string;
  /** Every call so far, oldest first, as `<command> <args…>`. */
  calls(command?: SlurmCommand): string[];
  /** sbatch calls whose answer is being held back right now (the job is in Slurm already). */
  heldBack(): string[];
}

const quote = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`;

const script = (command: SlurmCommand, options: SlurmWrapperOptions, logPath: string, heldPath: string): string => {
  const real = join(options.realBinDir ?? '/usr/bin', command);
  const lines = ['#!/bin/sh', `export SLURM_CONF=${quote(options.slurmConf)}`, `echo "${command} $*" >> ${quote(logPath)}`];
  const delay = command === 'sbatch' ? options.sbatchDelay : undefined;
  if (delay) {
    // The real sbatch runs (reading the batch script from our stdin) before the wait, so the job
    // exists in Slurm while its id is held back.
    lines.push(
      `case "$*" in`,
      `  *${delay.match.replace(/[^A-Za-z0-9._-]/g, '')}*)`,
      `    out=$(${quote(real)} "$@"); rc=$?`,
      `    echo "$out $*" >> ${quote(heldPath)}`,
      `    sleep ${delay.seconds}`,
      `    printf '%s\\n' "$out"`,
      `    exit $rc ;;`,
      `esac`,
    );
  }
  lines.push(`exec ${quote(real)} "$@"`, '');
  return lines.join('\n');
};

const readLines = (path: string): string[] => {
  try {
    return readFileSync(path, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

export const makeSlurmWrappers = (options: SlurmWrapperOptions): SlurmWrappers => {
  mkdirSync(options.dir, { recursive: true });
  const logPath = join(options.dir, 'calls.log');
  const heldPath = join(options.dir, 'held.log');
  for (const command of SLURM_COMMANDS) {
    const path = join(options.dir, command);
    writeFileSync(path, script(command, options, logPath, heldPath));
    chmodSync(path, 0o755);
  }
  return {
    binDir: options.dir,
    logPath,
    calls: (command) => readLines(logPath).filter((line) => command === undefined || line.startsWith(`${command} `)),
    heldBack: () => readLines(heldPath),
  };
};
