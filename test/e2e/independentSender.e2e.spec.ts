import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AcquisitionView } from '../../actors/acquisitions/index.js';
import { freePort } from '../../adapters/embedded/freePort.js';
import { repoRoot, startDaqflowProcess } from '../harness/daqflowProcess.js';
import { killAllSenders, startLibzmqSender } from '../harness/libzmqSender.js';
import { pythonWith, runPythonJson } from '../harness/python.js';
import { apiRequest, useE2eEnvironments, waitFor, type DaqflowEnvironment } from './e2eHelpers.js';

/*
 * What a user gets from a fresh `daqflow up` fed by a bsread sender that shares no code with
 * daqflow (bench/bsreadLibzmqSender.c, on libzmq): the first acquisition after `up`, asked a
 * second ahead, read back with h5py. Every row must be there and equal the sender's formula
 * (docs/acquisitions.md).
 */

/** A stream and the acquisition asked of it: a second ahead of the newest pulse, for `seconds`. */
interface Run {
  readonly onFull: 'block' | 'drop';
  readonly rateHz: number;
  /** The sender's payload flags. */
  readonly payload: readonly string[];
  readonly channels: number;
  readonly seconds: number;
}

const SCALARS_2KHZ = { rateHz: 2_000, payload: ['--scalars', '200'], channels: 200, seconds: 5 } as const;

const e2e = useE2eEnvironments('independent-sender');
let nc: NatsConnection;

beforeAll(async () => {
  nc = await connect({ servers: inject('natsUrl'), name: 'e2e-independent-sender' });
});

afterAll(async () => {
  await nc?.close();
  await killAllSenders();
});

interface FileCheck {
  readonly rows: number;
  readonly channels: number;
  readonly problems: Record<string, { count: number; examples: Array<{ channel: string; row: number; pulseId: number }> }>;
  readonly absentRanges: Array<[number, number]>;
  /** (pulse_id, is_data_present, data) shapes of the channels whose row count is wrong. */
  readonly shapes?: Record<string, number[][]>;
}

/**
 * A fresh daqflow up and the sender, then its first acquisition; every row read back with h5py.
 * `onFull`: what the sender does when daqflow does not take its messages: `block` (wait: no
 * pulse lost, the stream late) or `drop` (a source on the machine's clock, which cannot wait).
 */
const firstAcquisitionAfterUp = async (run: Run): Promise<void> => {
  const { onFull, rateHz } = run;
  const lead = rateHz;
  const pulses = run.seconds * rateHz;
  // Before anything runs: a machine without h5py fails here, not after a minute of streaming.
  const python = pythonWith(['h5py', 'numpy'], ['python3-h5py', 'python3-numpy']);
  const environment: DaqflowEnvironment = await e2e.create();
  const dataRoot = join(e2e.home, `data-${environment.token}`);
  mkdirSync(dataRoot, { recursive: true });
  const address = `tcp://127.0.0.1:${await freePort()}`;
  const env = { ...environment.env, DAQFLOW_DATA_ROOT: dataRoot, DAQFLOW_BSREAD_STREAM: address, DAQFLOW_BSREAD_MODE: 'pull' };
  const up = await startDaqflowProcess({ env });
  // Time-based ids: pulse p goes out at p / rate s since the epoch, so the test knows the newest
  // pulse from its own clock. The sender starts once daqflow's receiver is connected, and stops
  // by itself 4 s after the acquisition's last pulse is due.
  const sender = await startLibzmqSender([
    ...['--mode', 'push', '--on-full', onFull, '--bind', address, '--rate', String(rateHz), ...run.payload],
    ...['--start-pulse', 'time', '--seconds', String(run.seconds + 4), '--wait-peer', '30'],
  ]);
  const sending = await sender.sending;

  const current = Math.floor((Date.now() * rateHz) / 1000);
  // Date.now() counts whole ms (2 pulses at 2 kHz), and the sender says it sends up to one
  // period before its first pulse is due: 2 ms of slack (4 pulses at 2 kHz, 1 at 100 Hz).
  expect(current, 'the sender is on its time-based schedule').toBeGreaterThanOrEqual(sending.first - Math.ceil((2 * rateHz) / 1000));
  const first = current + lead;
  const last = first + pulses - 1;
  expect(last, 'the sender runs past the last pulse').toBeLessThanOrEqual(sending.last);
  const subject = (verb: string): string => `${environment.prefix}.acquisitions.${verb}`;
  const started = await apiRequest(nc, subject('start'), { outputFile: 'independent/run.h5', startPulseId: first, stopPulseId: last, metadata: { user: 'e2e' } }, 10_000);
  expect(started.kind, JSON.stringify(started)).toBe('ok');
  const id = (started as { body: Record<string, unknown> }).body['id'] as string;

  const view = await waitFor(`acquisition ${id} to end`, async () => {
    const r = await apiRequest(nc, subject('get'), { id }, 2_000);
    const v = r.kind === 'ok' ? (r.body as unknown as AcquisitionView) : undefined;
    return v?.final ? v : undefined;
  }, 40_000);
  const sent = await sender.exited;
  up.kill('SIGTERM');
  await up.exited;

  // The file is read back whenever there is one, so that a failure names the rows absent.
  const file = join(dataRoot, 'independent', 'run.h5');
  const check = existsSync(file)
    ? await runPythonJson<FileCheck>(python, join(repoRoot, 'test', 'harness', 'checkLibzmqSenderFile.py'), [file, String(first), String(last)], 60_000)
    : undefined;
  const what = [
    `acquisition ${JSON.stringify(view)}`,
    `sender ${JSON.stringify(sent.summary)}`,
    `file ${check === undefined ? 'none' : JSON.stringify({ absentRanges: check.absentRanges, problems: Object.keys(check.problems), shapes: check.shapes })}`,
  ].join('\n');
  // The figures a reader of the run wants whether it passes or not: how late the sender was
  // held or how many it dropped while daqflow did not read, what the acquisition wrote.
  console.log(`independent sender e2e (${run.payload.join(' ')} at ${rateHz} Hz, on full: ${onFull}), pulses ${first}..${last}:\n${what}`);
  expect(sent.code, sent.stderr).toBe(0);
  expect(view.state, what).toBe('completed');
  expect([view.firstPulseId, view.lastPulseId, view.pulsesWritten, view.missingPulses], what).toEqual([first, last, pulses, 0]);
  expect(check, what).toBeDefined();
  expect(check!.channels, JSON.stringify(check)).toBe(run.channels);
  expect(check!.rows).toBe(pulses);
  expect(check!.absentRanges, 'pulses absent from the file (from, to)').toEqual([]);
  expect(check!.problems, JSON.stringify(check)).toEqual({});
};

// PUSH that blocks when no peer can take a message is bsread's own sender default (its Python
// package's `block=True`). Images, and a source that cannot wait, are measured by the bench
// (bench/writerTrials.ts) on a quiet machine: on a machine the test suite itself loads, a writer
// thread starved of CPU for seconds is overtaken by the ring buffer whatever the sender does.
describe('an independent libzmq bsread sender into daqflow up: the first acquisition after up, asked 1 s ahead', () => {
  it('2 kHz x 200 float64 scalars for 5 s: every row present and equal to the sender formula', () =>
    firstAcquisitionAfterUp({ ...SCALARS_2KHZ, onFull: 'block' }), 60_000);
});
