import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import * as zmq from 'zeromq';
import { WatchedWriterThreadPool } from '../../../test/harness/watchedWriterThreadPool.js';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ActorRuntime, ActorView } from '../../../actors/runtime/actorRuntime.js';
import { isDaqflowError } from '../../../events/errors.js';
import type { EventStore } from '../../../events/eventStore.js';
import { createAcquisitionRuntime } from '../../../test/harness/acquisitionRuntime.js';
import { h5pyRows } from '../../../test/harness/h5pyReadBack.js';
import { checkFileAgainstSimulator, expectedRows, readRowsOfChannels } from '../../../test/harness/swissfelReadBack.js';
import { testStream } from '../../../test/harness/testNames.js';
import { waitFor } from '../../../test/harness/waitFor.js';
import { encodeDataHeader, encodeMessage } from '../../bsread/bsreadEncoder.js';
import { defaultSimulatedChannels, expectedTimestamp, startBsreadSimulator, type BsreadSimulator, type BsreadSimulatorOptions } from '../../bsread/bsreadSimulator.js';
import { connectNats, createJetStreamEventStore, ensureEventStream } from '../../jetstream/index.js';
import type { AcquisitionEffectsOptions } from './acquisitionEffects.js';
import { startBsreadSource, type BsreadSource } from '../../bsread/bsreadSource.js';
import { openSwissfelFile } from '../../hdf5/swissfelWriter.js';
import { openSwissfelFileInThread, sharedWriterThreadPool } from '../../hdf5/swissfelWriterThread.js';
import { prepareAcquisitionStart } from './prepareAcquisitionStart.js';

// Acquisitions end to end inside one process: a bsread stream over real ZeroMQ sockets, the
// receiver and ring buffer, the actor runtime on a real JetStream, the HDF5 file read back.
const names = testStream();
const scratch = mkdtempSync(join(tmpdir(), 'daqflow-acq-'));
let nc: NatsConnection;
let store: EventStore;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  nc = await connectNats(inject('natsUrl'), 'acquisition-int');
  await ensureEventStream(await jetstreamManager(nc), names);
  store = createJetStreamEventStore({ nc, ...names });
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

afterAll(async () => {
  await (await jetstreamManager(nc)).streams.delete(names.stream).catch(() => undefined);
  await nc.close();
  rmSync(scratch, { recursive: true, force: true });
});

let rigs = 0;

interface Rig {
  readonly dataRoot: string;
  readonly source: BsreadSource;
  readonly runtime: ActorRuntime;
  start(body: Record<string, unknown>): Promise<ActorView>;
  settle(id: string, ms?: number): Promise<ActorView>;
  /** Resolves once the acquisition's progress says at least `pulses` pulses were written. */
  written(id: string, pulses: number, ms?: number): Promise<ActorView>;
}

/** A runtime hosting acquisitions on `source` (a new buffer per rig, as a new process has). */
const makeRig = async (
  address: string,
  options: { dataRoot?: string; bufferLength?: number; openFile?: AcquisitionEffectsOptions['openFile'] } = {},
): Promise<Rig> => {
  const dataRoot = options.dataRoot ?? join(scratch, `root${++rigs}`);
  const source = startBsreadSource({ address, mode: 'pull', bufferLength: options.bufferLength ?? 2_000 });
  const runtime = createAcquisitionRuntime(store, source, dataRoot, options.openFile ? { openFile: options.openFile } : {});
  await runtime.start();
  cleanups.push(() => source.close(), () => runtime.stop(500));
  const settle = async (id: string, ms = 15_000): Promise<ActorView> => {
    const end = Date.now() + ms;
    for (;;) {
      const view = await runtime.get('acquisition', id);
      if (view.final) return view;
      if (Date.now() > end) throw new Error(`acquisition ${id} still ${view.state} after ${ms} ms: ${JSON.stringify(view.summary)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const written = async (id: string, pulses: number, ms = 15_000): Promise<ActorView> => {
    const end = Date.now() + ms;
    for (;;) {
      const view = await runtime.get('acquisition', id);
      if ((view.summary['pulsesWritten'] as number) >= pulses) return view;
      if (view.final || Date.now() > end) throw new Error(`acquisition ${id} ${view.state} with ${JSON.stringify(view.summary)}, waiting for ${pulses} pulses`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return {
    dataRoot,
    source,
    runtime,
    written,
    start: async (body) => runtime.create('acquisition', 'start', await prepareAcquisitionStart(body, { source, dataRoot })),
    settle,
  };
};

const simulate = async (options: Partial<BsreadSimulatorOptions>): Promise<BsreadSimulator> => {
  const sim = await startBsreadSimulator({ address: 'tcp://127.0.0.1:*', rateHz: 500, startPulseId: 10_000, ...options });
  cleanups.push(() => sim.stop());
  return sim;
};

/** Resolves once the buffer holds `pulseId` or a later one. */
const bufferReaches = async (source: BsreadSource, pulseId: number, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while ((source.buffer.counters().newestPulseId ?? -1) < pulseId) {
    if (Date.now() > end) throw new Error(`the buffer never reached pulse ${pulseId}: ${JSON.stringify(source.buffer.counters())}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** Resolves once the buffer no longer holds `pulseId` (evicted). */
const bufferEvicted = async (source: BsreadSource, pulseId: number, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while ((source.buffer.counters().oldestPulseId ?? -1) <= pulseId) {
    if (Date.now() > end) throw new Error(`pulse ${pulseId} never left the buffer: ${JSON.stringify(source.buffer.counters())}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

const smallChannels = defaultSimulatedChannels({ imageWidth: 32, imageHeight: 24, waveformLength: 64 });

describe('writer acquisitions over real ZeroMQ, read back row by row', () => {
  it.each([
    ['little-endian, uncompressed', { byteOrder: 'little', compression: 'none' }],
    ['big-endian, uncompressed', { byteOrder: 'big', compression: 'none' }],
    ['little-endian, bitshuffle_lz4', { byteOrder: 'little', compression: 'bitshuffle_lz4' }],
    ['big-endian, bitshuffle_lz4', { byteOrder: 'big', compression: 'bitshuffle_lz4' }],
    ['little-endian, lz4', { byteOrder: 'little', compression: 'lz4' }],
    ['big-endian, lz4', { byteOrder: 'big', compression: 'lz4' }],
  ] as const)('every channel type, missing values, pulse gaps and a type change (%s)', async (_label, wire) => {
    const sim = await simulate({
      ...wire,
      channels: smallChannels,
      gaps: [10_105, 10_106, 10_150],
      missingEvery: 7,
      typeChangeAt: { pulseId: 10_130, channel: 'SIM:SCALAR:INT32', type: 'float64', shape: [3] },
    });
    const rig = await makeRig(sim.address);
    const created = await rig.start({ outputFile: 'p1/run.h5', startPulseId: 10_100, stopPulseId: 10_160, metadata: { user: 'p1' } });
    expect(created.state).toBe('waiting');
    const done = await rig.settle(created.id);
    expect(done.state, String(done.summary['error'])).toBe('completed');
    const path = join(rig.dataRoot, 'p1/run.h5');
    expect(done.summary).toMatchObject({ outputFile: path, firstPulseId: 10_100, lastPulseId: 10_160, pulsesWritten: 58, missingPulses: 3 });
    const read = await checkFileAgainstSimulator(path, (p) => sim.expected(p), { first: 10_100, last: 10_160 });
    expect(read.rows).toBe(61);
    expect(read.channels.length).toBe(smallChannels.length);
    expect(read.valuesChecked).toBeGreaterThan(58 * smallChannels.length * 0.8);
    expect(readdirSync(join(rig.dataRoot, 'p1'))).toEqual(['run.h5']);
  });

  it('several acquisitions at once from one buffer, overlapping, with a channel selection; stop now ends at the newest pulse', async () => {
    const sim = await simulate({ channels: smallChannels });
    const rig = await makeRig(sim.address);
    await bufferReaches(rig.source, 10_050);
    const a = await rig.start({ outputFile: 'a.h5', startPulseId: 10_020, stopPulseId: 10_200 });
    const b = await rig.start({ outputFile: 'b.h5', startPulseId: 10_100, stopPulseId: 10_150, channels: ['SIM:SCALAR:FLOAT64', 'SIM:CAMERA:FPICTURE'] });
    const c = await rig.start({ outputFile: 'c.h5', startNow: true });
    const [da, db] = [await rig.settle(a.id), await rig.settle(b.id)];
    expect([da.state, db.state]).toEqual(['completed', 'completed']);
    await rig.runtime.execute('acquisition', c.id, 'stop', { now: true });
    const dc = await rig.settle(c.id);
    expect(dc.state).toBe('completed');
    // The stream itself lost nothing: every pulse the files miss would be a fault of ours.
    const counters = rig.source.counters();
    expect([counters.receiver.malformed, counters.receiver.missingPulses, counters.receiver.outOfOrder, counters.receiver.link?.disconnects]).toEqual([0, 0, 0, 0]);
    await checkFileAgainstSimulator(join(rig.dataRoot, 'a.h5'), (p) => sim.expected(p), { first: 10_020, last: 10_200 });
    const selected = await checkFileAgainstSimulator(join(rig.dataRoot, 'b.h5'), (p) => sim.expected(p), {
      first: 10_100,
      last: 10_150,
      channels: ['SIM:SCALAR:FLOAT64', 'SIM:CAMERA:FPICTURE'],
    });
    expect(selected.channels).toEqual(['SIM:SCALAR:FLOAT64', 'SIM:CAMERA:FPICTURE']);
    const first = dc.summary['firstPulseId'] as number;
    const last = dc.summary['lastPulseId'] as number;
    expect(first).toBe(c.summary['startPulseId']);
    expect(last).toBeGreaterThan(first);
    await checkFileAgainstSimulator(join(rig.dataRoot, 'c.h5'), (p) => sim.expected(p), { first, last });
  });

  it('images in receive buffers used again: two acquisitions through a small buffer, every row still its own pulse', async () => {
    // 128 KiB images: read into pooled buffers, given back as the buffer evicts them. A buffer
    // filled again too early would put a later image into an earlier row.
    const channels = defaultSimulatedChannels({ imageWidth: 256, imageHeight: 256, waveformLength: 64 });
    // A writer thread ready first: started cold on a busy machine, one took 1.4 s to open a file,
    // longer than this buffer lasts at 300 Hz (and this test is about the buffers, not the open).
    const warm = await openSwissfelFileInThread({ outputFile: 'warm.h5', dataRoot: join(scratch, 'warm') }, sharedWriterThreadPool());
    await warm.abort();
    const sim = await simulate({ channels, rateHz: 300 });
    // Room for the first file's open (a writer thread starting) and still evicting within the run.
    const rig = await makeRig(sim.address, { bufferLength: 400 });
    await bufferReaches(rig.source, 10_020);
    const a = await rig.start({ outputFile: 'pool-a.h5', startPulseId: 10_030, stopPulseId: 11_200 });
    const b = await rig.start({ outputFile: 'pool-b.h5', startPulseId: 10_600, stopPulseId: 11_000 });
    const [da, db] = [await rig.settle(a.id, 30_000), await rig.settle(b.id, 30_000)];
    expect([da.state, db.state, da.summary['error'] ?? null]).toEqual(['completed', 'completed', null]);
    const pool = rig.source.counters().receiver.framePool;
    expect(pool?.reused).toBeGreaterThan(300);
    expect(pool?.ignored).toBe(0);
    const image = channels.find((c) => c.name.includes('CAMERA'))!.name;
    const readA = await checkFileAgainstSimulator(join(rig.dataRoot, 'pool-a.h5'), (p) => sim.expected(p), { first: 10_030, last: 11_200, channels: [image] });
    const readB = await checkFileAgainstSimulator(join(rig.dataRoot, 'pool-b.h5'), (p) => sim.expected(p), { first: 10_600, last: 11_000, channels: [image] });
    expect([readA.valuesChecked, readB.valuesChecked]).toEqual([1171, 401]);
  });

  it('a stop now that arrives while the file is still opening writes every pulse from the first to the newest', async () => {
    // Opening can take a while (a writer thread being started on a busy machine): the first pulse is
    // in hand, the rest in the buffer. The stop must end the file there, not fill it with missing rows.
    const sim = await simulate({ channels: smallChannels });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let opening = false;
    const rig = await makeRig(sim.address, {
      openFile: async (o) => {
        opening = true;
        await gate;
        return openSwissfelFile(o);
      },
    });
    await bufferReaches(rig.source, 10_050);
    const c = await rig.start({ outputFile: 'held.h5', startNow: true });
    const start = c.summary['startPulseId'] as number;
    await bufferReaches(rig.source, start + 100);
    expect(opening).toBe(true);
    await rig.runtime.execute('acquisition', c.id, 'stop', { now: true });
    release();
    const done = await rig.settle(c.id);
    expect(done.state).toBe('completed');
    const [first, last] = [done.summary['firstPulseId'] as number, done.summary['lastPulseId'] as number];
    expect(first).toBe(start);
    expect(last).toBeGreaterThanOrEqual(start + 100);
    const read = await checkFileAgainstSimulator(join(rig.dataRoot, 'held.h5'), (p) => sim.expected(p), { first, last });
    expect(read.rows).toBe(last - first + 1);
    expect(done.summary['missingPulses']).toBe(0);
  });

  it('refuses a start pulse that has left the buffer, naming what it holds, and records nothing', async () => {
    const sim = await simulate({ channels: smallChannels });
    const rig = await makeRig(sim.address, { bufferLength: 50 });
    await bufferReaches(rig.source, 10_200);
    const refused = await rig.start({ outputFile: 'gone.h5', startPulseId: 10_010 }).catch((e: unknown) => e);
    expect(isDaqflowError(refused) && refused.code).toBe('WRONG_STATE');
    expect(String((refused as Error).message)).toMatch(/10010 has already left the ring buffer \(it holds pulses \d+\.\.\d+\)/);
    expect(existsSync(join(rig.dataRoot, 'gone.h5'))).toBe(false);
    const outside = await rig.start({ outputFile: '../outside.h5', startNow: true }).catch((e: unknown) => e);
    expect(isDaqflowError(outside) && outside.code).toBe('VALIDATION_FAILED');
  });

  it('kill closes the file cleanly with the pulses written so far', async () => {
    const sim = await simulate({ channels: smallChannels, rateHz: 200 });
    const rig = await makeRig(sim.address);
    const created = await rig.start({ outputFile: 'killed.h5', startNow: true });
    await rig.written(created.id, 20);
    await rig.runtime.execute('acquisition', created.id, 'kill', {});
    const done = await rig.settle(created.id);
    expect(done.state).toBe('killed');
    const first = done.summary['firstPulseId'] as number;
    const last = done.summary['lastPulseId'] as number;
    expect(last - first).toBeGreaterThan(10);
    await checkFileAgainstSimulator(join(rig.dataRoot, 'killed.h5'), (p) => sim.expected(p), { first, last });
  });

  it('a kill while the writer holds the reader back (storage hanging) does not wait for the writer to catch up', async () => {
    const sim = await simulate({ channels: smallChannels, rateHz: 200 });
    const rig = await makeRig(sim.address, {
      // The in-thread writer with a backlog that never clears, as a thread stuck on storage would show.
      openFile: async (o) => Object.assign(await openSwissfelFile(o), { backlog: () => new Promise<void>(() => undefined) }),
    });
    const created = await rig.start({ outputFile: 'hung.h5', startNow: true });
    // The first pulse is written right after the file opens ('writing'); the reader then hangs.
    const view = await waitFor('the acquisition to be writing', async () => {
      const now = await rig.runtime.get('acquisition', created.id);
      return now.state === 'writing' ? now : undefined;
    }, 10_000, 20);
    await bufferReaches(rig.source, (view.summary['firstPulseId'] as number) + 40);
    await rig.runtime.execute('acquisition', created.id, 'kill', {});
    const done = await rig.settle(created.id, 5_000);
    expect(done.state).toBe('killed');
    const first = done.summary['firstPulseId'] as number;
    expect(done.summary['lastPulseId']).toBe(first);
    await checkFileAgainstSimulator(join(rig.dataRoot, 'hung.h5'), (p) => sim.expected(p), { first, last: first });
  });

  /**
   * A writer held back once, after its 10th row, until the buffer has evicted 60 pulses it had
   * not read: the ring buffer overtakes its reader, as it does a writer stuck on slow storage.
   * The buffer holds 0.5 s of the stream, so that a busy machine does not overtake it before.
   */
  const heldOnce = (source: () => BsreadSource): AcquisitionEffectsOptions['openFile'] => {
    let held = false;
    return async (o) => {
      const writer = await openSwissfelFile(o);
      return Object.assign(writer, {
        backlog: (): Promise<void> | undefined => {
          const { rows, lastPulseId } = writer.stats();
          if (held || rows < 10 || lastPulseId === null) return undefined;
          held = true;
          return bufferEvicted(source(), lastPulseId + 60);
        },
      });
    };
  };

  it('a writer the buffer overtakes goes on from the oldest pulse held: lost pulses are missing rows, the file is complete, the loss is recorded', async () => {
    const channels = [{ name: 'A', type: 'float64' as const, shape: [1] }, { name: 'B', type: 'int32' as const, shape: [4] }];
    const sim = await simulate({ channels, rateHz: 200 });
    // The writer is opened once the rig (and its buffer) exists.
    const late: { source?: BsreadSource } = {};
    const rig = await makeRig(sim.address, { bufferLength: 100, openFile: heldOnce(() => late.source!) });
    late.source = rig.source;
    await bufferReaches(rig.source, 10_020);
    const first = rig.source.buffer.counters().newestPulseId! + 20;
    const last = first + 299;
    const created = await rig.start({ outputFile: 'overtaken.h5', startPulseId: first, stopPulseId: last });
    const done = await rig.settle(created.id);
    expect(done.state, String(done.summary['error'])).toBe('completed');
    const lost = done.summary['lostPulses'] as { from: number; to: number; count: number; ranges: Array<{ from: number; to: number }> };
    // Held after its 10th row (first + 9), until pulse first + 69 had left the buffer.
    expect(lost.ranges[0]!.from).toBe(first + 10);
    expect(lost.to).toBeGreaterThanOrEqual(first + 69);
    expect(lost.count).toBe(lost.ranges.reduce((n, r) => n + r.to - r.from + 1, 0));
    expect(lost).toMatchObject({ from: lost.ranges[0]!.from, to: lost.ranges.at(-1)!.to });
    expect(done.summary).toMatchObject({ firstPulseId: first, lastPulseId: last, pulsesWritten: 300 - lost.count, missingPulses: lost.count });
    expect(rig.source.buffer.counters().readerLostPulses).toBe(lost.count);
    const path = join(rig.dataRoot, 'overtaken.h5');
    const rows = await readRowsOfChannels(path);
    expect(Object.keys(rows).sort()).toEqual(['A', 'B']);
    for (const channel of Object.values(rows)) expect(channel).toEqual(expectedRows(first, last, lost.ranges));
    expect(await h5pyRows(path)).toEqual(rows);
    // The finished event carries the loss, so a replay shows it without the effect.
    const events = await store.readStream('acquisition', created.id);
    const finished = events.find((e) => e.type === 'finished');
    expect((finished?.data as { lostPulses?: unknown } | undefined)?.lostPulses).toEqual({ count: lost.count, ranges: lost.ranges });
  });

  it("with onLoss 'fail', a writer the buffer overtakes fails with PULSES_LOST, as before: nothing under the final name, the draft kept", async () => {
    const sim = await simulate({ channels: [{ name: 'A', type: 'float64', shape: [1] }], rateHz: 200 });
    // The writer is opened once the rig (and its buffer) exists.
    const late: { source?: BsreadSource } = {};
    const rig = await makeRig(sim.address, { bufferLength: 100, openFile: heldOnce(() => late.source!) });
    late.source = rig.source;
    await bufferReaches(rig.source, 10_020);
    const first = rig.source.buffer.counters().newestPulseId! + 20;
    const created = await rig.start({ outputFile: 'strict.h5', startPulseId: first, stopPulseId: first + 299, onLoss: 'fail' });
    expect(created.summary['onLoss']).toBe('fail');
    const done = await rig.settle(created.id);
    expect(done.state).toBe('failed');
    expect(String(done.summary['error'])).toMatch(/^PULSES_LOST: reader fell behind the ring buffer: pulse \d+ was evicted/);
    expect(done.summary['lostPulses']).toMatchObject({ from: first + 10 });
    expect(existsSync(join(rig.dataRoot, 'strict.h5'))).toBe(false);
    expect(existsSync(join(rig.dataRoot, '.strict.h5.draft'))).toBe(true);
  });

  it('a writer thread that dies while the stream is silent fails the acquisition at once, keeping the draft', async () => {
    const sim = await simulate({ channels: smallChannels, maxMessages: 150 });
    const pool = new WatchedWriterThreadPool(0);
    cleanups.push(() => pool.close());
    const rig = await makeRig(sim.address, { openFile: (o) => openSwissfelFileInThread(o, pool) });
    const created = await rig.start({ outputFile: 'orphan.h5', startPulseId: 10_000 });
    await sim.done;
    await rig.written(created.id, 150);
    await pool.last!.worker.terminate();
    const done = await rig.settle(created.id, 5_000);
    expect(done.state).toBe('failed');
    expect(String(done.summary['error'])).toMatch(/WRITE_FAILED: the writer thread stopped/);
    const draft = done.summary['draftPath'] as string;
    expect(draft).toBe(join(rig.dataRoot, '.orphan.h5.draft'));
    expect(existsSync(draft)).toBe(true);
    expect(existsSync(join(rig.dataRoot, 'orphan.h5'))).toBe(false);
  });

  it('pulses the stream never delivered at the start and at the end are missing rows: the file still spans start..stop', async () => {
    const push = new zmq.Push({ sendHighWaterMark: 1_000 });
    await push.bind('tcp://127.0.0.1:*');
    cleanups.push(async () => push.close());
    const rig = await makeRig(push.lastEndpoint!);
    const header = encodeDataHeader([{ name: 'G:A' }]);
    const send = (p: number): Promise<void> =>
      push.send(encodeMessage({ header, pulseId: p, globalTimestamp: expectedTimestamp(p), values: [new Uint8Array(Float64Array.of(p).buffer)] }));
    // The process has been receiving the stream (pulse 90) before the acquisition's start.
    await send(90);
    await bufferReaches(rig.source, 90);
    const created = await rig.start({ outputFile: 'gaps.h5', startPulseId: 100, stopPulseId: 119 });
    // The source's first pulses and its last ones before the stop never come (a sender that
    // dropped them); a pulse past the stop ends the acquisition.
    for (const p of [105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 121]) await send(p);
    const done = await rig.settle(created.id);
    expect(done.state).toBe('completed');
    expect(done.summary).toMatchObject({ firstPulseId: 100, lastPulseId: 119, pulsesWritten: 11, missingPulses: 9 });
    const rows = (await h5pyRows(join(rig.dataRoot, 'gaps.h5')))['G:A']!;
    expect(rows.pulseIds).toEqual(Array.from({ length: 20 }, (_, i) => 100 + i));
    expect(rows.present).toEqual(Array.from({ length: 20 }, (_, i) => (i >= 5 && i <= 15 ? 1 : 0)));
  });

  it('skips and counts malformed messages; the acquisition around them completes', async () => {
    const push = new zmq.Push({ sendHighWaterMark: 1_000 });
    await push.bind('tcp://127.0.0.1:*');
    cleanups.push(async () => push.close());
    const rig = await makeRig(push.lastEndpoint!);
    const header = encodeDataHeader([{ name: 'M:A' }, { name: 'M:B' }, { name: 'M:C' }]);
    const good = (p: number): Buffer[] =>
      encodeMessage({
        header,
        pulseId: p,
        globalTimestamp: expectedTimestamp(p),
        values: [0, 1, 2].map((i) => new Uint8Array(Float64Array.of(p + i / 10).buffer)),
      });
    const created = await rig.start({ outputFile: 'malformed.h5', startPulseId: 100, stopPulseId: 119 });
    for (let p = 100; p < 120; p++) {
      const parts = good(p);
      if (p === 103) await push.send(parts.slice(0, -1)); // wrong part count
      else if (p === 105) await push.send([Buffer.from('{"pulse_id": 105, "hash": '), ...parts.slice(1)]); // bad JSON
      else if (p === 107) await push.send([Buffer.from(String(parts[0]).replace(header.hash, '00ff')), Buffer.alloc(0), ...parts.slice(2)]); // hash without header
      else if (p === 109) await push.send([...parts.slice(0, 2), parts[2]!.subarray(0, 5), ...parts.slice(3)]); // truncated value
      else await push.send(parts);
    }
    const done = await rig.settle(created.id);
    expect(done.state).toBe('completed');
    expect(done.summary).toMatchObject({ firstPulseId: 100, lastPulseId: 119, pulsesWritten: 16, missingPulses: 4 });
    const counters = rig.source.counters();
    expect(counters.receiver.malformed).toBe(4);
    expect(counters.buffer.malformed).toBe(4);
    expect(counters.receiver.byReason).toMatchObject({ PART_COUNT: 1, MAIN_HEADER: 1, UNKNOWN_HASH: 1, VALUE_SIZE: 1 });
  });
});

describe('re-publication of the stream', () => {
  it('sends every decoded message on a PUB port, parts as they came', async () => {
    const sim = await simulate({ channels: smallChannels, rateHz: 200, compression: 'lz4' });
    const source = startBsreadSource({ address: sim.address, mode: 'pull', bufferLength: 100, republishAddress: 'tcp://127.0.0.1:*' });
    cleanups.push(() => source.close());
    const address = await source.republished!;
    const seen: number[] = [];
    const viewer = startBsreadSource({ address, mode: 'sub', bufferLength: 1_000 });
    cleanups.push(() => viewer.close());
    // A subscriber gets what is sent after it subscribed: start at the first pulse it holds.
    await bufferReaches(viewer, 0);
    const from = viewer.buffer.counters().oldestPulseId!;
    for await (const m of viewer.buffer.read(from)) {
      seen.push(m.pulseId);
      expect(Buffer.from(m.values.bytes(10)!).equals(Buffer.from(sim.expected(m.pulseId)!.values[10]!))).toBe(true);
      if (seen.length === 50) break;
    }
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => from + i));
    expect(source.counters().republished?.sent).toBeGreaterThanOrEqual(50);
  });
});

describe('an acquisition across a restart of its process', () => {
  it('still waiting for its start pulse: resumes on the new buffer and completes', async () => {
    const sim = await simulate({ channels: smallChannels, rateHz: 200 });
    const root = join(scratch, 'restart-waiting');
    const first = await makeRig(sim.address, { dataRoot: root });
    await bufferReaches(first.source, 10_010);
    const start = (first.source.buffer.counters().newestPulseId ?? 0) + 300;
    const created = await first.start({ outputFile: 'later.h5', startPulseId: start, stopPulseId: start + 40 });
    await first.runtime.stop(100);
    await first.source.close();
    const second = await makeRig(sim.address, { dataRoot: root });
    const done = await second.settle(created.id, 20_000);
    expect(done.state).toBe('completed');
    await checkFileAgainstSimulator(join(root, 'later.h5'), (p) => sim.expected(p), { first: start, last: start + 40 });
  });

  it('writing when it stopped: fails naming the lost pulses and the draft kept; nothing under the final name', async () => {
    const sim = await simulate({ channels: smallChannels, rateHz: 200 });
    const root = join(scratch, 'restart-writing');
    const first = await makeRig(sim.address, { dataRoot: root });
    const created = await first.start({ outputFile: 'cut.h5', startNow: true });
    // Cut while rows are being written, whatever the machine's load.
    await first.written(created.id, 20, 10_000);
    await first.runtime.stop(100);
    await first.source.close();
    const second = await makeRig(sim.address, { dataRoot: root });
    const done = await second.settle(created.id, 20_000);
    expect(done.state).toBe('failed');
    const startPulse = created.summary['startPulseId'] as number | null;
    const firstPulse = done.summary['firstPulseId'] as number;
    if (startPulse !== null) expect(firstPulse).toBe(startPulse);
    const lost = done.summary['lostPulses'] as { from: number; to: number };
    expect(lost.from).toBe(firstPulse);
    expect(lost.to).toBeGreaterThan(lost.from);
    expect(String(done.summary['error'])).toMatch(/PULSES_LOST: .*only in the buffer that was lost/);
    const draft = done.summary['draftPath'] as string;
    expect(draft).toBe(join(root, '.cut.h5.draft'));
    expect(existsSync(draft)).toBe(true);
    expect(existsSync(join(root, 'cut.h5'))).toBe(false);
  });
});
