import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AcquisitionView } from '../../actors/acquisitions/index.js';
import { simulatedChannels } from '../../adapters/cli/simulate.js';
import { startBsreadSimulator } from '../../adapters/bsread/bsreadSimulator.js';
import { KILL_AFTER_PUBLISH_ENV } from '../../adapters/jobs/acquisitions/killAfterPublishTestHook.js';
import { killAllDaqflowProcesses, runCli, startDaqflowProcess } from '../harness/daqflowProcess.js';
import { checkFileAgainstSimulator } from '../harness/swissfelReadBack.js';
import { apiRequest, readWholeStream, useE2eEnvironments, waitFor, type DaqflowEnvironment } from './e2eHelpers.js';

/*
 * Acceptance of writer acquisitions through `daqflow up` (a child process) reading the stream of
 * `daqflow simulate bsread` (another child process): a SIGKILL while one acquisition writes and
 * another waits for its start pulse, then a restart, and bad requests.
 */

const SCALARS = 4;
const IMAGE = { width: 32, height: 16 };
const START = 5_000_000;
const RATE = 100;
const PORT = 19_000 + Math.floor(Math.random() * 2_000);

type AcquisitionReply = AcquisitionView;

const e2e = useE2eEnvironments('acquisition');
let nc: NatsConnection;
let environment: DaqflowEnvironment;
let dataRoot: string;
let env: Record<string, string>;

/** What `daqflow simulate bsread` sends, recomputed in the test: the same pure functions of pulse id. */
const expected = async () => {
  const mirror = await startBsreadSimulator({
    address: 'inproc://expected-only',
    rateHz: 1,
    channels: simulatedChannels({ scalars: SCALARS, image: IMAGE }),
    startPulseId: START,
    maxMessages: 1,
  });
  await mirror.stop();
  return (p: number) => mirror.expected(p);
};

beforeAll(async () => {
  environment = await e2e.create();
  dataRoot = join(e2e.home, `data-${environment.token}`);
  mkdirSync(dataRoot, { recursive: true });
  env = {
    ...environment.env,
    DAQFLOW_DATA_ROOT: dataRoot,
    DAQFLOW_BSREAD_STREAM: `tcp://127.0.0.1:${PORT}`,
    DAQFLOW_BSREAD_MODE: 'pull',
    // 30 s of pulses: the CLI test asks for a start 0.5 s ahead, and a CLI process starting on
    // a machine busy with the rest of the suite took over 5 s to send it (a 500-pulse buffer
    // had let the pulse go by then).
    DAQFLOW_BUFFER_LENGTH: '3000',
  };
  nc = await connect({ servers: inject('natsUrl'), name: 'e2e-acquisition-client' });
  // The sender runs as its own process, as a camera server would, and outlives daqflow's restarts.
  await startDaqflowProcess({
    args: ['simulate', 'bsread', '--address', `tcp://127.0.0.1:${PORT}`, '--rate', String(RATE), '--scalars', String(SCALARS), '--image', `${IMAGE.width}x${IMAGE.height}`, '--start-pulse', String(START)],
    ready: /bsread simulator: push on/,
  });
});

afterAll(async () => {
  await nc?.close();
  await killAllDaqflowProcesses();
});

const subject = (verb: string): string => `${environment.prefix}.acquisitions.${verb}`;

const start = async (body: Record<string, unknown>): Promise<AcquisitionReply> => {
  const outcome = await apiRequest(nc, subject('start'), body, 10_000);
  if (outcome.kind !== 'ok') throw new Error(`acquisition start refused: ${JSON.stringify(outcome)}`);
  return outcome.body as unknown as AcquisitionReply;
};

const get = async (id: string): Promise<AcquisitionReply | undefined> => {
  const outcome = await apiRequest(nc, subject('get'), { id }, 2_000);
  return outcome.kind === 'ok' ? (outcome.body as unknown as AcquisitionReply) : undefined;
};

const untilFinal = (id: string, timeoutMs = 30_000): Promise<AcquisitionReply> =>
  waitFor(`acquisition ${id} to end`, async () => {
    const view = await get(id);
    return view?.final ? view : undefined;
  }, timeoutMs);

describe('writer acquisitions through daqflow up and daqflow simulate bsread', () => {
  it('SIGKILL while writing and while waiting: the writer fails naming the lost pulses and its draft, the waiting one completes after the restart', async () => {
    let up = await startDaqflowProcess({ env });
    const writing = await start({ outputFile: 'beam/cut.h5', startNow: true, metadata: { user: 'e2e' } });
    expect(writing.state).toBe('waiting');
    // A start far enough ahead to survive the restart: about 15 s of pulses.
    const ahead = (writing.startPulseId ?? START) + 15 * RATE;
    const waiting = await start({ outputFile: 'beam/later.h5', startPulseId: ahead, stopPulseId: ahead + 99 });
    await waitFor('the first acquisition to write 100 pulses', async () => {
      const view = await get(writing.id);
      return view && view.pulsesWritten >= 100 ? true : undefined;
    }, 20_000);
    up.kill('SIGKILL');
    await up.exited;
    const events = await readWholeStream(inject('natsUrl'), environment.stream, environment.prefix);
    const started = events.find((e) => e.actorId === writing.id && e.type === 'started');
    const draft = (started?.data as { draftPath?: string } | undefined)?.draftPath;
    expect(draft).toBe(join(dataRoot, 'beam', '.cut.h5.draft'));
    expect(existsSync(draft!)).toBe(true);
    expect(existsSync(join(dataRoot, 'beam', 'cut.h5'))).toBe(false);

    up = await startDaqflowProcess({ env });
    const cut = await untilFinal(writing.id);
    expect(cut.state).toBe('failed');
    expect(cut.error).toMatch(/^PULSES_LOST: the process stopped while writing; pulses \d+\.\.\d+ were only in the buffer that was lost/);
    expect(cut.lostPulses?.from).toBe(cut.firstPulseId);
    expect(cut.lostPulses!.to).toBeGreaterThanOrEqual(cut.firstPulseId! + 99);
    expect(cut.draftPath).toBe(draft);
    expect(existsSync(draft!)).toBe(true);
    expect(existsSync(join(dataRoot, 'beam', 'cut.h5'))).toBe(false);

    const later = await untilFinal(waiting.id, 40_000);
    expect(later.state, later.error).toBe('completed');
    expect([later.firstPulseId, later.lastPulseId, later.pulsesWritten]).toEqual([ahead, ahead + 99, 100]);
    const read = await checkFileAgainstSimulator(join(dataRoot, 'beam', 'later.h5'), await expected(), { first: ahead, last: ahead + 99 });
    expect(read.channels.length).toBe(SCALARS + 1);
    expect(readdirSync(join(dataRoot, 'beam')).sort()).toEqual(['.cut.h5.draft', 'later.h5']);
    up.kill('SIGTERM');
    await up.exited;
    // Two starts of daqflow up and a start pulse 15 s ahead: 22 s at load 9 on the 2-core VM,
    // over the default 30 s at load 15.
  }, 90_000);

  it('killed after its file is published and before `finished` is recorded: the restart takes the file as its own and completes the acquisition with it', async () => {
    let up = await startDaqflowProcess({ env: { ...env, [KILL_AFTER_PUBLISH_ENV]: '1' } });
    const run = await start({ outputFile: 'window/run.h5', startNow: true });
    await waitFor('100 pulses written', async () => {
      const view = await get(run.id);
      return view && view.pulsesWritten >= 100 ? true : undefined;
    }, 20_000);
    const stopped = await apiRequest(nc, subject('stop'), { id: run.id, now: true }, 10_000);
    expect(stopped.kind).toBe('ok');
    // The hook kills the process once the file has its final name.
    const exit = await up.exited;
    expect(exit.signal).toBe('SIGKILL');
    const final = join(dataRoot, 'window', 'run.h5');
    expect(readdirSync(join(dataRoot, 'window'))).toEqual(['run.h5']);
    const before = await readWholeStream(inject('natsUrl'), environment.stream, environment.prefix);
    expect(before.filter((e) => e.actorId === run.id).map((e) => e.type)).not.toContain('finished');
    const bytes = readFileSync(final);

    up = await startDaqflowProcess({ env });
    const done = await untilFinal(run.id);
    expect(done.state, done.error).toBe('completed');
    const after = await readWholeStream(inject('natsUrl'), environment.stream, environment.prefix);
    const finished = after.find((e) => e.actorId === run.id && e.type === 'finished');
    expect((finished?.data as { path?: string } | undefined)?.path).toBe(final);
    expect(readFileSync(final).equals(bytes), 'the file is left as it was').toBe(true);
    expect(readdirSync(join(dataRoot, 'window'))).toEqual(['run.h5']);
    const read = await checkFileAgainstSimulator(final, await expected(), { first: done.firstPulseId!, last: done.lastPulseId! });
    expect(read.channels.length).toBe(SCALARS + 1);
    expect(done.pulsesWritten).toBe(done.lastPulseId! - done.firstPulseId! + 1 - done.missingPulses);
    expect(done.pulsesWritten).toBeGreaterThanOrEqual(100);
    up.kill('SIGTERM');
    await up.exited;
  }, 90_000);

  it('acquire start/stop from the CLI writes the pulses asked for; bad requests get a 400 or 409 naming the problem', async () => {
    const up = await startDaqflowProcess({ env });
    const from = await waitFor('pulses in the buffer', async () => {
      const r = await apiRequest(nc, subject('start'), { outputFile: 'probe.h5', startNow: true }, 5_000);
      if (r.kind !== 'ok') return undefined;
      await apiRequest(nc, subject('kill'), { id: r.body['id'] }, 5_000);
      // null: the buffer was still empty, the start waits for the next pulse; ask again.
      const id = r.body['startPulseId'];
      return typeof id === 'number' ? id : undefined;
    }, 10_000);
    const first = from + 50;
    const cli = await runCli(['acquire', 'start', '-o', 'cli/run.h5', '--start-pulse', String(first), '--stop-pulse', String(first + 49), '--user', 'p1', '--json'], env);
    expect(cli.code, cli.stderr).toBe(0);
    const view = JSON.parse(cli.stdout) as AcquisitionReply;
    expect([view.state, view.firstPulseId, view.lastPulseId, view.pulsesWritten]).toEqual(['completed', first, first + 49, 50]);
    await checkFileAgainstSimulator(join(dataRoot, 'cli', 'run.h5'), await expected(), { first, last: first + 49 });

    const refusals: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ outputFile: 'cli/run.h5', startNow: true }, '400', /already exists/],
      [{ outputFile: '../escape.h5', startNow: true }, '400', /outside the data root/],
      [{ outputFile: 'x.h5', startPulseId: 1 }, '409', /1 has already left the ring buffer/],
      [{ outputFile: 'x.h5', startNow: true, stopPulseID: 5 }, '400', /stopPulseID/],
      [{ outputFile: 'x.h5', startPulseId: 10, stopPulseId: 5 }, '400', /stopPulseId/],
    ];
    for (const [body, status, message] of refusals) {
      const outcome = await apiRequest(nc, subject('start'), body, 5_000);
      expect(outcome.kind, JSON.stringify(body)).toBe('refused');
      if (outcome.kind !== 'refused') continue;
      expect(outcome.status, JSON.stringify(outcome.body)).toBe(status);
      expect(JSON.stringify(outcome.body), JSON.stringify(body)).toMatch(message);
    }
    expect(existsSync(join(dataRoot, 'x.h5'))).toBe(false);
    up.kill('SIGTERM');
    await up.exited;
    // A configured stream's receive memory is made resident before `up` is ready (seconds on a busy machine).
  }, 60_000);
});
