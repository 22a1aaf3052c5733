import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AcquisitionView } from '../../actors/acquisitions/index.js';
import { WRITER_STALL_ENV } from '../../adapters/hdf5/writerStallTestHook.js';
import { killAllDaqflowProcesses, runCli, startDaqflowProcess, type DaqflowProcess } from '../harness/daqflowProcess.js';
import { h5pyRows } from '../harness/h5pyReadBack.js';
import { expectedRows, readRowsOfChannels } from '../harness/swissfelReadBack.js';
import { apiRequest, readWholeStream, useE2eEnvironments, waitFor, type DaqflowEnvironment } from './e2eHelpers.js';

/*
 * Acceptance of lost pulses through `daqflow up` (a child process) reading `daqflow simulate
 * bsread` (another) over real ZeroMQ: each writer thread is held back on purpose (the test hook
 * DAQFLOW_TEST_WRITER_STALL_MS, docs/acquisitions.md "Lost pulses") until the ring buffer has
 * overtaken its reader. By default the file still appears under its final name, the lost pulses
 * rows with is_data_present = 0, and the acquisition completes naming them; with onLoss "fail" it
 * fails with PULSES_LOST as before.
 */

const RATE = 100;
const START = 7_000_000;
const PORT = 21_000 + Math.floor(Math.random() * 2_000);
const REST_PORT = 23_000 + Math.floor(Math.random() * 2_000);
/** 1 s of the stream in the buffer; the writer stalls 3 s: 2 s of pulses or more are lost. */
const BUFFER = 100;
const STALL_MS = 3_000;

const e2e = useE2eEnvironments('acquisition-loss');
let nc: NatsConnection;
let environment: DaqflowEnvironment;
let dataRoot: string;
let env: Record<string, string>;
let up: DaqflowProcess;

beforeAll(async () => {
  environment = await e2e.create();
  dataRoot = join(e2e.home, `data-${environment.token}`);
  mkdirSync(dataRoot, { recursive: true });
  env = {
    ...environment.env,
    DAQFLOW_DATA_ROOT: dataRoot,
    DAQFLOW_BSREAD_STREAM: `tcp://127.0.0.1:${PORT}`,
    DAQFLOW_BSREAD_MODE: 'pull',
    DAQFLOW_BUFFER_LENGTH: String(BUFFER),
    DAQFLOW_REST_PORT: String(REST_PORT),
    [WRITER_STALL_ENV]: String(STALL_MS),
  };
  nc = await connect({ servers: inject('natsUrl'), name: 'e2e-acquisition-loss-client' });
  await startDaqflowProcess({
    args: ['simulate', 'bsread', '--address', `tcp://127.0.0.1:${PORT}`, '--rate', String(RATE), '--scalars', '2', '--waveform', '8', '--start-pulse', String(START)],
    ready: /bsread simulator: push on/,
  });
  up = await startDaqflowProcess({ env });
});

afterAll(async () => {
  await nc?.close();
  await killAllDaqflowProcesses();
});

const subject = (verb: string): string => `${environment.prefix}.acquisitions.${verb}`;

const get = async (id: string): Promise<AcquisitionView | undefined> => {
  const outcome = await apiRequest(nc, subject('get'), { id }, 2_000);
  return outcome.kind === 'ok' ? (outcome.body as unknown as AcquisitionView) : undefined;
};

const untilFinal = (id: string, timeoutMs = 40_000): Promise<AcquisitionView> =>
  waitFor(`acquisition ${id} to end`, async () => {
    const view = await get(id);
    return view?.final ? view : undefined;
  }, timeoutMs);

/** The REST shim's view of the stream: the ring buffer's counters. */
const stream = async (): Promise<{ newest_pulse_id: number | null; reader_lost_pulses: number }> => {
  const reply = (await (await fetch(`http://127.0.0.1:${REST_PORT}/statistics`)).json()) as { statistics: { stream: { newest_pulse_id: number | null; reader_lost_pulses: number } } };
  return reply.statistics.stream;
};

/**
 * Starts an acquisition, until stopped, at the next pulse. "Now" is resolved by daqflow itself: a
 * pulse id read from the statistics first may be one of the stale pulses the sender queued before
 * daqflow connected, long gone by the time the start arrives.
 */
const startAhead = async (outputFile: string, extra: Record<string, unknown> = {}): Promise<{ id: string; first: number }> => {
  await waitFor('pulses in the buffer', async () => (await stream()).newest_pulse_id ?? undefined, 20_000);
  const outcome = await apiRequest(nc, subject('start'), { outputFile, startNow: true, ...extra }, 10_000);
  if (outcome.kind !== 'ok') throw new Error(`acquisition start refused: ${JSON.stringify(outcome)}`);
  const first = outcome.body['startPulseId'];
  if (typeof first !== 'number') throw new Error(`no start pulse in ${JSON.stringify(outcome.body)}`);
  return { id: outcome.body['id'] as string, first };
};

describe('a writer the ring buffer overtakes, through daqflow up', () => {
  it('completes its file under the final name with the lost pulses as missing rows, and says which were lost', async () => {
    const lostBefore = (await stream()).reader_lost_pulses;
    const { id, first } = await startAhead('beam/overtaken.h5');
    // How long the thread holds the reader depends on the machine (its h5wasm may still be
    // loading): stopped once the loss is reported while writing and 50 pulses were written after it.
    await waitFor('a loss reported, then 50 pulses written after it', async () => {
      const view = await get(id);
      if (view?.final) throw new Error(`ended before the stop: ${JSON.stringify(view)}`);
      const to = view?.lostPulses?.to;
      return to !== undefined && view!.lastPulseId !== null && view!.lastPulseId >= to + 50 ? true : undefined;
    }, 60_000);
    const stop = await apiRequest(nc, subject('stop'), { id, now: true }, 10_000);
    expect(stop.kind, JSON.stringify(stop)).toBe('ok');
    const done = await untilFinal(id);
    const last = done.lastPulseId!;
    expect(done.state, done.error).toBe('completed');
    const lost = done.lostPulses!;
    expect(lost.count!).toBeGreaterThan(50);
    expect(lost.ranges!.length).toBeGreaterThanOrEqual(1);
    expect(lost.ranges![0]!.from).toBeGreaterThan(first);
    expect(lost.ranges!.at(-1)!.to, JSON.stringify({ first, last, lost })).toBeLessThan(last);
    expect(lost.count).toBe(lost.ranges!.reduce((n, r) => n + r.to - r.from + 1, 0));
    expect(done).toMatchObject({ firstPulseId: first, pulsesWritten: last - first + 1 - lost.count!, missingPulses: lost.count });
    expect((await stream()).reader_lost_pulses - lostBefore).toBe(lost.count);

    // Read back twice, by h5wasm and by h5py: every pulse a row, absent exactly where lost.
    const path = join(dataRoot, 'beam', 'overtaken.h5');
    expect(existsSync(path)).toBe(true);
    expect(existsSync(join(dataRoot, 'beam', '.overtaken.h5.draft'))).toBe(false);
    const rows = await readRowsOfChannels(path);
    expect(Object.keys(rows).sort()).toEqual(['SIM:SCALAR:000', 'SIM:SCALAR:001', 'SIM:WAVE:FLOAT64']);
    const expected = expectedRows(first, last, lost.ranges!);
    for (const [channel, got] of Object.entries(rows)) expect(got, channel).toEqual(expected);
    expect(await h5pyRows(path)).toEqual(rows);

    // Recorded in the events, so that a replay knows it without the writer.
    const events = (await readWholeStream(inject('natsUrl'), environment.stream, environment.prefix)).filter((e) => e.actorId === id);
    expect((events.find((e) => e.type === 'finished')?.data as { lostPulses?: unknown }).lostPulses).toEqual({ count: lost.count, ranges: lost.ranges });
    // Never silent: the log names them.
    expect(up.stderr() + up.stdout()).toMatch(new RegExp(`acquisition lost pulses ${lost.ranges![0]!.from}\\.\\.\\d+`));

    // The CLI shows them (no colour: not a terminal).
    const cli = await runCli(['acquire', 'get', id], env);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(new RegExp(`lost\\s+${lost.count} lost \\(${lost.ranges![0]!.from}\\.\\.${lost.ranges![0]!.to}`));
    expect(cli.stdout).not.toContain('\u001b[');
    // `status` reads the projection, which follows the events by a moment.
    const shown = `${lost.count} lost (${lost.ranges![0]!.from}..`;
    const status = await waitFor(`daqflow status to show "${shown}"`, async () => {
      const r = await runCli(['status', '--kind', 'acquisition'], env);
      return r.code === 0 && r.stdout.includes(shown) ? r : undefined;
    }, 30_000, 500);
    expect(status.stdout).toMatch(new RegExp(`${id}\\s+completed`));
  }, 120_000);

  it('with onLoss "fail", fails with PULSES_LOST as before: nothing under the final name, the draft kept', async () => {
    const { id, first } = await startAhead('beam/strict.h5', { onLoss: 'fail' });
    // No stop: it fails when overtaken, however long the thread takes to get there.
    const done = await untilFinal(id);
    expect(done.state).toBe('failed');
    expect(done.error).toMatch(/^PULSES_LOST: reader fell behind the ring buffer/);
    expect(done.lostPulses!.from).toBeGreaterThan(first);
    expect(done.lostPulses!.count).toBeUndefined();
    expect(done.onLoss).toBe('fail');
    expect(existsSync(join(dataRoot, 'beam', 'strict.h5'))).toBe(false);
    expect(done.draftPath).toBe(join(dataRoot, 'beam', '.strict.h5.draft'));
    expect(existsSync(done.draftPath!)).toBe(true);
  }, 60_000);
});
