import { describe, expect, it } from 'vitest';
import type { CancelNote } from './exitMarker.js';
import { mapSlurmState, slurmStateTable, slurmStateWord } from './slurmStates.js';

const timeoutNote: CancelNote = { reason: 'timeout', at: '2026-01-01T00:00:00.000Z' };
const requestedNote: CancelNote = { reason: 'requested', at: '2026-01-01T00:00:00.000Z' };

describe('mapSlurmState', () => {
  it.each([
    ['PENDING', 'Priority', 'pending'],
    ['CONFIGURING', 'None', 'pending'],
    ['REQUEUED', 'None', 'pending'],
    ['RUNNING', 'None', 'running'],
    ['COMPLETING', 'None', 'running'],
    ['SUSPENDED', 'None', 'running'],
    ['TIMEOUT', 'TimeLimit', 'timed_out'],
    ['DEADLINE', 'None', 'timed_out'],
  ] as const)('%s (%s) is %s', (state, reason, expected) => {
    expect(mapSlurmState({ state, reason }).state).toBe(expected);
  });

  it('keeps the pending reason, but not "None"', () => {
    expect(mapSlurmState({ state: 'PENDING', reason: 'Resources' })).toEqual({ state: 'pending', slurmState: 'PENDING', reason: 'Resources' });
    expect(mapSlurmState({ state: 'RUNNING', reason: 'None' })).toEqual({ state: 'running', slurmState: 'RUNNING' });
  });

  it('COMPLETED is completed with exit code 0', () => {
    expect(mapSlurmState({ state: 'COMPLETED', reason: 'None', exitCode: 0 })).toEqual({ state: 'completed', slurmState: 'COMPLETED', exitCode: 0 });
  });

  it('FAILED with NonZeroExitCode is the command failing, with its exit code', () => {
    expect(mapSlurmState({ state: 'FAILED', reason: 'NonZeroExitCode', exitCode: 3 })).toEqual({
      state: 'failed',
      slurmState: 'FAILED',
      exitCode: 3,
      failure: 'exit_code',
      reason: 'exited with code 3',
    });
  });

  it('FAILED with JobLaunchFailure, or without a marker or reason, is the cluster failing', () => {
    expect(mapSlurmState({ state: 'FAILED', reason: 'JobLaunchFailure' })).toMatchObject({ state: 'failed', failure: 'infrastructure' });
    expect(mapSlurmState({ state: 'FAILED', reason: 'None' })).toMatchObject({ state: 'failed', failure: 'infrastructure', exitCode: null });
  });

  it.each([
    ['OUT_OF_MEMORY', 'out_of_memory', /out of memory/],
    ['NODE_FAIL', 'infrastructure', /node failure/],
    ['BOOT_FAIL', 'infrastructure', /boot/],
    ['PREEMPTED', 'preempted', /preempted/],
  ] as const)('%s is failed (%s) with a reason', (state, failure, reason) => {
    const status = mapSlurmState({ state, reason: 'None' });
    expect(status).toMatchObject({ state: 'failed', failure, slurmState: state });
    expect(status.reason).toMatch(reason);
  });

  it('CANCELLED is timed_out when daqflow cancelled for the timeout, cancelled otherwise', () => {
    expect(mapSlurmState({ state: 'CANCELLED', note: timeoutNote, exitCode: 143 })).toMatchObject({
      state: 'timed_out',
      slurmState: 'CANCELLED',
      exitCode: 143,
    });
    expect(mapSlurmState({ state: 'CANCELLED', note: requestedNote })).toMatchObject({ state: 'cancelled', slurmState: 'CANCELLED' });
    expect(mapSlurmState({ state: 'CANCELLED' }).reason).toMatch(/outside daqflow/);
  });

  it('a note does not turn a job that failed on its own into a timeout', () => {
    expect(mapSlurmState({ state: 'FAILED', reason: 'NonZeroExitCode', exitCode: 2, note: timeoutNote }).state).toBe('failed');
  });

  it("reads sacct's 'CANCELLED by 0' and a truncated state", () => {
    expect(slurmStateWord('CANCELLED by 0')).toBe('CANCELLED');
    expect(slurmStateWord('OUT_OF_ME+')).toBe('OUT_OF_ME');
    expect(mapSlurmState({ state: 'CANCELLED by 1000' }).state).toBe('cancelled');
    expect(mapSlurmState({ state: 'completed' }).state).toBe('completed');
  });

  it('a state it does not know is unknown, and says which', () => {
    expect(mapSlurmState({ state: 'WIBBLE' })).toMatchObject({ state: 'unknown', slurmState: 'WIBBLE', reason: expect.stringMatching(/WIBBLE/) });
  });

  it('maps every state of its table to a known state', () => {
    for (const state of Object.keys(slurmStateTable)) {
      expect(mapSlurmState({ state, reason: 'NonZeroExitCode', exitCode: 1 }).state, state).not.toBe('unknown');
    }
  });
});
