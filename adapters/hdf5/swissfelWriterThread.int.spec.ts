import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import h5wasm from 'h5wasm/node';
import type { Group } from 'h5wasm/node';
import { WatchedWriterThreadPool } from '../../test/harness/watchedWriterThreadPool.js';
import { afterAll, describe, expect, it } from 'vitest';
import { withDefaults } from '../bsread/bsreadEncoder.js';
import type { BsreadChannelConfig, BsreadMessage } from '../bsread/bsreadMessage.js';
import { defaultSimulatedChannels, expectedTimestamp, expectedValue } from '../bsread/bsreadSimulator.js';
import { openSwissfelFile, type SwissfelFileWriter } from './swissfelWriter.js';
import { openSwissfelFileInThread, startSwissfelFileInThread, WriterThreadPool } from './swissfelWriterThread.js';
import { BsreadValues } from '../bsread/bsreadValues.js';
import { createFramePool } from '../bsread/framePool.js';
import { waitFor } from '../../test/harness/waitFor.js';

// The threaded writer against the in-thread one: the same pulses must give the same file, and
// its refusals and failures must come back as the in-thread writer's do.
const scratch = mkdtempSync(join(tmpdir(), 'daqflow-writer-thread-'));
const pool = new WriterThreadPool(1);
afterAll(async () => {
  await pool.close();
  rmSync(scratch, { recursive: true, force: true });
});

const base = defaultSimulatedChannels({ imageWidth: 160, imageHeight: 120 }).map(withDefaults);
const changed = base.map((c) => (c.name === 'SIM:WAVE:INT32' ? { ...c, type: 'float64' as const, shape: Object.freeze([3]) } : c));

/** Pulse p: the simulator's values; a value missing every 7th; the camera in shared memory on odd pulses; a type change at 1020. */
const messageAt = (p: number): BsreadMessage => {
  const channels: readonly BsreadChannelConfig[] = p < 1020 ? base : changed;
  const values = channels.map((c, i) => {
    if ((p + i) % 7 === 0) return { bytes: null, timestamp: null };
    let bytes: Uint8Array = expectedValue(c, p);
    if (c.name === 'SIM:CAMERA:FPICTURE' && p % 2 === 1) {
      const shared = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
      shared.set(bytes);
      bytes = shared;
    }
    return { bytes, timestamp: expectedTimestamp(p) };
  });
  return { pulseId: p, globalTimestamp: expectedTimestamp(p), hash: p < 1020 ? 'a' : 'b', channels, values: BsreadValues.from(values), wireBytes: 0 };
};
const gaps = new Set([1005, 1006, 1031]);
const nulls = new Set([1010]);

const writeAll = async (writer: SwissfelFileWriter & { backlog?(): Promise<void> | undefined }): Promise<void> => {
  for (let p = 1000; p < 1040; p++) {
    if (gaps.has(p)) continue;
    writer.writePulse(p, nulls.has(p) ? null : messageAt(p));
    await writer.backlog?.();
  }
};

/** Every dataset and attribute of a file, by path: dtype, shape and a hash of the bytes. */
const dump = async (path: string): Promise<Map<string, string>> => {
  await h5wasm.ready;
  const file = new h5wasm.File(path, 'r');
  const out = new Map<string, string>();
  const walk = (group: Group, prefix: string): void => {
    for (const name of group.keys()) {
      const item = group.get(name);
      const at = `${prefix}/${name}`;
      if (item instanceof h5wasm.Group) walk(item, at);
      else if (item instanceof h5wasm.Dataset) {
        const v = item.value;
        const bytes = ArrayBuffer.isView(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : Buffer.from(JSON.stringify(v));
        out.set(at, `${JSON.stringify(item.dtype)} ${JSON.stringify(item.shape)} ${createHash('sha256').update(bytes).digest('hex')}`);
      }
      for (const attr of Object.keys((item as Group).attrs ?? {})) out.set(`${at}@${attr}`, JSON.stringify((item as Group).attrs[attr]!.value));
    }
  };
  try {
    walk(file, '');
  } finally {
    file.close();
  }
  return out;
};

describe('the SwissFEL writer on a thread', () => {
  it('writes the same file as the writer on this thread: every type, gaps, missing values, a type change, shared memory', async () => {
    const root = mkdtempSync(join(scratch, 'same-'));
    const inline = await openSwissfelFile({ outputFile: 'inline.h5', dataRoot: root, general: { user: 'tester' } });
    await writeAll(inline);
    const a = await inline.finish();
    const threaded = await openSwissfelFileInThread({ outputFile: 'thread.h5', dataRoot: root, general: { user: 'tester' } }, pool);
    expect(threaded.draftPath).toBe(join(root, '.thread.h5.draft'));
    await writeAll(threaded);
    const b = await threaded.finish();

    expect(b.stats).toEqual(a.stats);
    expect(b.stats).toMatchObject({ rows: 40, pulsesMissing: 4, typeChanges: 1 });
    const [da, db] = [await dump(a.path), await dump(b.path)];
    expect(da.size).toBeGreaterThan(60);
    expect([...db.entries()]).toEqual([...da.entries()]);
    expect(existsSync(threaded.draftPath)).toBe(false);
  });

  it('refuses what the writer on this thread refuses, with the same error', async () => {
    const root = mkdtempSync(join(scratch, 'refuse-'));
    const first = await openSwissfelFileInThread({ outputFile: 'taken.h5', dataRoot: root }, pool);
    await first.finish();
    await expect(openSwissfelFileInThread({ outputFile: 'taken.h5', dataRoot: root }, pool)).rejects.toMatchObject({
      name: 'DaqflowError',
      code: 'VALIDATION_FAILED',
      message: expect.stringMatching(/already exists/),
    });
    await expect(openSwissfelFileInThread({ outputFile: '../outside.h5', dataRoot: root }, pool)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('a pulse the thread cannot write fails the next call; abort keeps the draft with the rows before it', async () => {
    const root = mkdtempSync(join(scratch, 'fail-'));
    const writer = await openSwissfelFileInThread({ outputFile: 'broken.h5', dataRoot: root }, pool);
    writer.writePulse(1000, messageAt(1000));
    writer.writePulse(1001, messageAt(1001));
    writer.writePulse(1001, messageAt(1001)); // not increasing: refused in the thread
    let thrown: unknown;
    for (let i = 0; i < 200 && thrown === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      try {
        writer.writePulse(1002 + i, null);
      } catch (e) {
        thrown = e;
      }
    }
    expect(thrown).toMatchObject({ code: 'VALIDATION_FAILED', message: expect.stringMatching(/1001/) });
    await expect(writer.finish()).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(existsSync(writer.draftPath)).toBe(true);
    expect(existsSync(writer.finalPath)).toBe(false);
  });

  it('a thread whose file failed is ended, not handed to the next file; one whose file ended well is', async () => {
    const watched = new WatchedWriterThreadPool(0);
    try {
      const root = mkdtempSync(join(scratch, 'reuse-after-'));
      const good = await openSwissfelFileInThread({ outputFile: 'good.h5', dataRoot: root }, watched);
      const first = watched.last!;
      good.writePulse(1000, messageAt(1000));
      await good.finish();
      const bad = await openSwissfelFileInThread({ outputFile: 'bad.h5', dataRoot: root }, watched);
      expect(watched.last).toBe(first); // the same thread took the next file
      bad.writePulse(1000, messageAt(1000));
      bad.writePulse(1000, messageAt(1000)); // not increasing: refused in the thread
      await expect(bad.finish()).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      const exited = await new Promise<number>((resolve) => first.worker.once('exit', resolve));
      expect(exited).toBe(1); // terminated
      const next = await openSwissfelFileInThread({ outputFile: 'next.h5', dataRoot: root }, watched);
      expect(watched.last).not.toBe(first);
      await next.abort();
    } finally {
      await watched.close();
    }
  });

  it('drops the written pages from the page cache through the main thread\'s shell', async () => {
    const root = mkdtempSync(join(scratch, 'page-cache-'));
    const writer = await openSwissfelFileInThread({ outputFile: 'pc.h5', dataRoot: root, releasePageCacheEveryBytes: 1024 * 1024 }, pool);
    for (let p = 0; p < 24; p++) writer.writePulse(p, cameraPulse(p)); // 6 MiB
    const result = await writer.finish();
    expect(result.pageCache.stopped).toBeNull();
    expect(result.pageCache.releases).toBeGreaterThanOrEqual(1);
    await expectCameraRows(result.path, 24);
  });

  it('a pulse that fails after finish was sent: finish rejects, nothing is published, the draft is kept readable', async () => {
    const root = mkdtempSync(join(scratch, 'late-'));
    const writer = await openSwissfelFileInThread({ outputFile: 'late.h5', dataRoot: root, maxGapPulses: 10 }, pool);
    writer.writePulse(100, messageAt(1000));
    writer.writePulse(101, messageAt(1001));
    writer.writePulse(500, { ...messageAt(1002), pulseId: 500 }); // a gap over maxGapPulses: refused in the thread
    await expect(writer.finish()).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(existsSync(writer.finalPath)).toBe(false);
    // Readable by HDF5 (a thread ended mid-write would leave a file h5wasm refuses to open).
    const entries = await dump(writer.draftPath);
    expect(entries.size).toBeGreaterThan(0);
  });

  it('a thread that dies tells its writer at once: onFailure fires, writes fail, abort names the draft', async () => {
    const root = mkdtempSync(join(scratch, 'dead-'));
    const watched = new WatchedWriterThreadPool(0);
    try {
      const writer = await openSwissfelFileInThread({ outputFile: 'dead.h5', dataRoot: root }, watched);
      writer.writePulse(1000, messageAt(1000));
      const failure = new Promise<Error>((resolve) => writer.onFailure(resolve));
      // Nothing more is written: the failure must arrive without a next pulse to carry it.
      await watched.last!.worker.terminate();
      const error = await failure;
      expect(error.message).toMatch(/the writer thread stopped: exit code 1/);
      expect(() => writer.writePulse(1001, messageAt(1001))).toThrow(/the writer thread stopped/);
      await expect(writer.backlog()).rejects.toThrow(/the writer thread stopped/);
      // A listener added after the failure hears it too.
      await expect(new Promise<Error>((resolve) => writer.onFailure(resolve))).resolves.toBe(error);
      await expect(writer.abort()).rejects.toThrow(/the writer thread stopped/);
      expect(existsSync(writer.draftPath)).toBe(true);
      expect(existsSync(writer.finalPath)).toBe(false);
    } finally {
      await watched.close();
    }
  });

  // 256 KiB a pulse: over the size from which buffers go back; each pulse's bytes its own.
  const camera: BsreadChannelConfig = withDefaults({ name: 'CAM', type: 'uint16', shape: [512, 256] });
  const pixels = (p: number): Uint8Array => {
    const words = new Uint16Array(512 * 256);
    for (let i = 0; i < words.length; i++) words[i] = (p * 7 + i) & 0xffff;
    return new Uint8Array(words.buffer);
  };
  const cameraPulse = (p: number): BsreadMessage => ({
    pulseId: p,
    globalTimestamp: { sec: p, ns: 0 },
    hash: 'c',
    channels: [camera],
    values: BsreadValues.from([{ bytes: pixels(p), timestamp: { sec: p, ns: 0 } }]),
    wireBytes: 0,
  });
  const expectCameraRows = async (path: string, rows: number): Promise<void> => {
    await h5wasm.ready;
    const file = new h5wasm.File(path, 'r');
    try {
      const data = file.get('/data/CAM/data') as unknown as { shape: number[]; slice(ranges: number[][]): Uint16Array };
      expect(data.shape).toEqual([rows, 256, 512]); // bsread gives the shape reversed
      for (let p = 0; p < rows; p++) {
        const row = data.slice([[p, p + 1]]);
        expect(createHash('sha1').update(row).digest('hex'), `row ${p}`).toBe(createHash('sha1').update(pixels(p)).digest('hex'));
      }
    } finally {
      file.close();
    }
  };

  it('pulses travel in the shared ring while it has room, else in buffers of their own; every row is still the pulse it was', async () => {
    const root = mkdtempSync(join(scratch, 'ring-'));
    // Room for four pulses (and a bit): of each batch of six, four go in the ring, two beside it.
    const writer = await openSwissfelFileInThread({ outputFile: 'ring.h5', dataRoot: root }, pool, { ringBytes: 4 * 256 * 1024 + 100_000 });
    let sent = 0;
    for (let batch = 0; batch < 10; batch++) {
      for (let k = 0; k < 6; k++) writer.writePulse(sent, cameraPulse(sent++));
      // Until the thread has written them all (and its acks have freed the ring).
      const deadline = Date.now() + 10_000;
      while (writer.stats().rows < sent) {
        if (Date.now() > deadline) throw new Error(`the thread wrote ${writer.stats().rows} of ${sent} pulses in 10 s`);
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    expect(writer.pulsesInRing()).toBe(40);
    const result = await writer.finish();
    expect(result.stats.rows).toBe(60);
    await expectCameraRows(result.path, 60);
  });

  it('without the ring, big pulses travel in buffers the thread hands back, and every row is still the pulse it was', async () => {
    const root = mkdtempSync(join(scratch, 'reuse-'));
    const writer = await openSwissfelFileInThread({ outputFile: 'reuse.h5', dataRoot: root }, pool, { ringBytes: 0 });
    for (let p = 0; p < 120; p++) {
      writer.writePulse(p, cameraPulse(p));
      await writer.backlog();
      // Now and then let the acks (and the buffers with them) come back.
      if (p % 4 === 3) await new Promise((r) => setTimeout(r, 5));
    }
    const reused = writer.buffersReused();
    const result = await writer.finish();
    expect(result.stats.rows).toBe(120);
    expect(reused).toBeGreaterThan(30);
    expect(writer.pulsesInRing()).toBe(0);
    await expectCameraRows(result.path, 120);
  });

  it('images in pooled shared buffers go to the thread uncopied; a buffer given back at once is not filled again before the thread wrote it', async () => {
    const root = mkdtempSync(join(scratch, 'pinned-'));
    const frames = createFramePool({ minBytes: 16 });
    const writer = await openSwissfelFileInThread({ outputFile: 'pinned.h5', dataRoot: root }, pool);
    for (let p = 0; p < 60; p++) {
      const frame = frames.take(512 * 256 * 2);
      frame.set(pixels(p));
      writer.writePulse(p, {
        pulseId: p,
        globalTimestamp: { sec: p, ns: 0 },
        hash: 'c',
        channels: [camera],
        values: BsreadValues.from([{ bytes: frame, timestamp: { sec: p, ns: 0 } }]),
        wireBytes: 0,
      });
      // As the ring buffer would when it evicts the pulse at once: the next take may want it.
      frames.give(frame);
      // Now and then let the acks come back, so that buffers are used again.
      if (p % 10 === 9) await waitFor('the thread to write the pulses sent', () => (writer.stats().rows === p + 1 ? true : undefined), 10_000, 5);
    }
    const result = await writer.finish();
    expect(frames.counters().givenWhilePinned).toBeGreaterThan(0);
    expect(frames.counters().reused).toBeGreaterThan(0);
    await expectCameraRows(result.path, 60);
  });

  it('holds the caller while too many pulses are on their way, and loses none', async () => {
    const root = mkdtempSync(join(scratch, 'backlog-'));
    const writer = await openSwissfelFileInThread({ outputFile: 'backlog.h5', dataRoot: root }, pool, { maxPulses: 4 });
    let held = 0;
    for (let p = 0; p < 300; p++) {
      writer.writePulse(p, { ...messageAt(1000 + (p % 20)), pulseId: p });
      const wait = writer.backlog();
      if (wait !== undefined) {
        held++;
        await wait;
      }
    }
    expect(held).toBeGreaterThan(0);
    const result = await writer.finish();
    expect(result.stats).toMatchObject({ rows: 300, pulsesWithMessage: 300, pulsesMissing: 0 });
  });

  it('takes pulses while a new thread still loads h5wasm and opens the file: the caller is never held, no pulse is lost', async () => {
    const root = mkdtempSync(join(scratch, 'cold-'));
    // A pool of its own with no thread started: the writer's thread is spawned by this open.
    const cold = new WriterThreadPool(0, 0);
    try {
      const writer = startSwissfelFileInThread({ outputFile: 'cold.h5', dataRoot: root }, cold);
      let opened = false;
      void writer.opened.then(() => (opened = true));
      let held = 0;
      // 2,000 pulses of the mix without its camera (the bytes stay far below the limit), before
      // the thread has loaded h5wasm (0.4 s or more).
      const keep = base.flatMap((c, i) => (c.name === 'SIM:CAMERA:FPICTURE' ? [] : [i]));
      const channels = keep.map((i) => base[i]!);
      for (let p = 0; p < 2_000; p++) {
        const m = messageAt(1000 + (p % 20));
        writer.writePulse(p, { ...m, pulseId: p, channels, values: m.values.select(keep) });
        if (writer.backlog() !== undefined) held++;
      }
      expect(opened).toBe(false);
      expect(held).toBe(0);
      expect(await writer.opened).toEqual({ draftPath: join(root, '.cold.h5.draft'), finalPath: join(root, 'cold.h5') });
      const result = await writer.finish();
      expect(result.stats).toMatchObject({ rows: 2_000, pulsesWithMessage: 2_000, pulsesMissing: 0, firstPulseId: 0, lastPulseId: 1_999 });
    } finally {
      await cold.close();
    }
  });

  it('a file that cannot be opened fails its writer: opened rejects, onFailure fires, writes throw, abort names no draft', async () => {
    const root = mkdtempSync(join(scratch, 'refused-'));
    writeFileSync(join(root, 'there.h5'), 'x');
    const writer = startSwissfelFileInThread({ outputFile: 'there.h5', dataRoot: root }, pool);
    writer.writePulse(1, messageAt(1000));
    const failure = new Promise<Error>((resolve) => writer.onFailure(resolve));
    await expect(writer.opened).rejects.toThrow(/already exists/);
    expect((await failure).message).toMatch(/already exists/);
    expect(() => writer.writePulse(2, null)).toThrow(/already exists/);
    await expect(writer.backlog()).rejects.toThrow(/already exists/);
    expect(await writer.abort()).toEqual({ draftPath: '' });
    expect(readdirSync(root)).toEqual(['there.h5']);
  });
});
