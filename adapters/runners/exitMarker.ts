/**
 * The exit-marker convention both runners share. The command runs inside a small bash wrapper
 * that writes `{"jobId","exitCode"}` to the spec's exit-marker path when the command ends
 * (written to a temporary name, then renamed, so a reader never sees half a marker). Beside it,
 * `cancel` leaves a note saying why daqflow cancelled the job. From these two files any runner
 * instance, also one started after a crash, can say how a job ended without the scheduler's
 * memory of it.
 */
import { constants as osConstants } from 'node:os';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { CancelOptions, JobSpec, JobStatus } from './jobRunner.js';

export interface ExitMarker {
  readonly jobId: string;
  readonly exitCode: number;
}

export interface CancelNote {
  readonly reason: NonNullable<CancelOptions['reason']>;
  readonly at: string;
}

/** A string as one bash word, whatever it holds. */
export const shellQuote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;

/**
 * The batch script around the command. `jobIdWord` is a bash word giving the job id at run time
 * (`"$SLURM_JOB_ID"` under Slurm), so that the marker also tells a recovering actor which job
 * it belongs to.
 */
export const wrapperScript = (spec: JobSpec, jobIdWord: string): string => {
  const marker = shellQuote(spec.exitMarkerPath);
  const exports = Object.entries(spec.env ?? {}).map(([name, value]) => `export ${name}=${shellQuote(value)}`);
  return [
    '#!/bin/bash',
    `# daqflow job ${spec.name}`,
    // With a handler set, bash waits for the command to die of the signal (scancel, a cancel,
    // Slurm's time limit) and then carries on, so the marker is written for those too.
    // The handler is reset to default in the command itself.
    'trap : TERM INT HUP',
    ...exports,
    spec.command.map(shellQuote).join(' '),
    'rc=$?',
    `printf '{"jobId":"%s","exitCode":%d}\\n' ${jobIdWord} "$rc" > ${marker}.$$.tmp && mv -f -- ${marker}.$$.tmp ${marker}`,
    'exit "$rc"',
    '',
  ].join('\n');
};

const cancelNotePath = (exitMarkerPath: string): string => `${exitMarkerPath}.cancel`;

/**
 * Makes the folders the job writes into and removes a marker or note left by an earlier job of
 * the same paths, which would otherwise be read as this job's end.
 */
export const prepareJobFiles = async (spec: JobSpec): Promise<void> => {
  const folders = new Set([spec.workDir, dirname(spec.stdoutPath), dirname(spec.stderrPath), dirname(spec.exitMarkerPath)]);
  for (const folder of folders) await mkdir(folder, { recursive: true });
  await rm(spec.exitMarkerPath, { force: true });
  await rm(cancelNotePath(spec.exitMarkerPath), { force: true });
};

const readJson = async (path: string): Promise<unknown> => {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || e instanceof SyntaxError) return undefined;
    throw e;
  }
};

/** The marker, or null when there is none (or it is not ours: unreadable JSON counts as none). */
export const readExitMarker = async (exitMarkerPath: string): Promise<ExitMarker | null> => {
  const value = await readJson(exitMarkerPath);
  if (typeof value !== 'object' || value === null) return null;
  const { jobId, exitCode } = value as Record<string, unknown>;
  if (typeof jobId !== 'string' || typeof exitCode !== 'number' || !Number.isInteger(exitCode)) return null;
  return { jobId, exitCode };
};

export const writeCancelNote = async (exitMarkerPath: string, reason: CancelNote['reason']): Promise<void> => {
  const note: CancelNote = { reason, at: new Date().toISOString() };
  await mkdir(dirname(exitMarkerPath), { recursive: true });
  await writeFile(cancelNotePath(exitMarkerPath), `${JSON.stringify(note)}\n`);
};

export const readCancelNote = async (exitMarkerPath: string): Promise<CancelNote | null> => {
  const value = await readJson(cancelNotePath(exitMarkerPath));
  if (typeof value !== 'object' || value === null) return null;
  const { reason, at } = value as Record<string, unknown>;
  if ((reason !== 'timeout' && reason !== 'requested') || typeof at !== 'string') return null;
  return { reason, at };
};

const signalNames = new Map(Object.entries(osConstants.signals).map(([name, number]) => [number, name]));

/** "exited with code 3", or "killed by SIGKILL (exit code 137)" for bash's 128 + signal. */
export const describeExit = (exitCode: number): string => {
  const signal = exitCode > 128 ? signalNames.get(exitCode - 128) : undefined;
  return signal ? `killed by ${signal} (exit code ${exitCode})` : `exited with code ${exitCode}`;
};

/** How a job that daqflow cancelled ended. */
export const cancelledStatus = (note: CancelNote, exitCode: number | null): JobStatus =>
  note.reason === 'timeout'
    ? { state: 'timed_out', exitCode, reason: `cancelled by daqflow at ${note.at}: the job timeout passed` }
    : { state: 'cancelled', exitCode, reason: `cancelled by daqflow at ${note.at}` };

/**
 * How a job ended, from its marker and daqflow's cancel note. A note counts only when the
 * command died of a signal: one that exited on its own before the cancel arrived keeps its
 * own result.
 */
export const statusFromMarker = (marker: ExitMarker, note: CancelNote | null): JobStatus => {
  if (marker.exitCode === 0) return { state: 'completed', exitCode: 0 };
  if (note && marker.exitCode >= 128) return cancelledStatus(note, marker.exitCode);
  return { state: 'failed', exitCode: marker.exitCode, failure: 'exit_code', reason: describeExit(marker.exitCode) };
};
