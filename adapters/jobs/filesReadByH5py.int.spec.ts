import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { grabRunActor } from '../../actors/grabs/index.js';
import { defineActor } from '../../actors/runtime/actorDefinition.js';
import { ActorRuntime, type ActorView } from '../../actors/runtime/actorRuntime.js';
import { EventSchemas } from '../../events/eventSchemas.js';
import type { EventStore } from '../../events/eventStore.js';
import { createAcquisitionRuntime } from '../../test/harness/acquisitionRuntime.js';
import { h5pyDescribe, type H5pyObject } from '../../test/harness/h5pyReadBack.js';
import { readGrabFile } from '../../test/harness/readGrabFile.js';
import { testStream } from '../../test/harness/testNames.js';
import { waitFor } from '../../test/harness/waitFor.js';
import { startBsreadSource } from '../bsread/bsreadSource.js';
import { prepareAcquisitionStart } from './acquisitions/prepareAcquisitionStart.js';
import { elementSize, hdf5ShapeOf, type BsreadType } from '../bsread/bsreadMessage.js';
import { defaultSimulatedChannels, startBsreadSimulator } from '../bsread/bsreadSimulator.js';
import { createSimulatorSource } from '../dataLogger/simulator.js';
import { createGrabEffects } from './grabs/grabEffects.js';
import { prepareGrabStart } from './grabs/prepareGrabStart.js';
import { newId } from '../ids.js';
import { connectNats, createJetStreamEventStore, ensureEventStream } from '../jetstream/index.js';
import { GRAB_LAYOUT_VERSION } from '../hdf5/grabFileLayout.js';
import { SWISSFEL_LAYOUT_VERSION } from '../hdf5/swissfelLayout.js';

// The files a writer acquisition and a grab run write, made the way daqflow makes them (actor
// runtime on JetStream, real ZeroMQ stream or data-logger simulator) and read back with h5py, the
// library their users read them with: not only h5wasm, the writers' own library. The acquisition's
// file is held to the layout sf_bsread_writer writes (docs/formats.md, "The SwissFEL file"), dtype
// by dtype and shape by shape as h5py reports them; the grab file to docs/grabs.md ("The file").

const names = testStream();
const scratch = mkdtempSync(join(tmpdir(), 'daqflow-h5py-'));
let nc: NatsConnection;
let store: EventStore;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  nc = await connectNats(inject('natsUrl'), 'h5py-int');
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

const settled = (runtime: ActorRuntime, kind: string, id: string): Promise<ActorView> =>
  waitFor(`${kind} ${id} to end`, async () => {
    const view = await runtime.get(kind, id);
    return view.final ? view : undefined;
  }, 30_000, 50);

/**
 * numpy dtypes of sf_bsread_writer's `data` datasets, as h5py reports them (`dtype.str`): its
 * bsread type → numpy type table. daqflow writes `bool` as uint8 (docs/formats.md says why).
 */
const sfDataDtype: Record<Exclude<BsreadType, 'string'>, string> = {
  bool: '|b1',
  int8: '|i1',
  uint8: '|u1',
  int16: '<i2',
  uint16: '<u2',
  int32: '<i4',
  uint32: '<u4',
  int64: '<i8',
  uint64: '<u8',
  float32: '<f4',
  float64: '<f8',
};
const daqflowDataDtype = (type: Exclude<BsreadType, 'string'>): string => (type === 'bool' ? '|u1' : sfDataDtype[type]);

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('files daqflow writes, read back with h5py', () => {
  it("a writer acquisition's file has sf_bsread_writer's layout, dtypes and shapes, and the values sent", async () => {
    const channels = defaultSimulatedChannels({ imageWidth: 8, imageHeight: 6, waveformLength: 32 });
    const sim = await startBsreadSimulator({ address: 'tcp://127.0.0.1:*', rateHz: 500, startPulseId: 50_000, channels, missingEvery: 7 });
    cleanups.push(() => sim.stop());
    const dataRoot = join(scratch, 'acquisition');
    const source = startBsreadSource({ address: sim.address, mode: 'pull', bufferLength: 2_000 });
    const runtime = createAcquisitionRuntime(store, source, dataRoot);
    await runtime.start();
    cleanups.push(() => source.close(), () => runtime.stop(500));
    const newest = await waitFor('the first pulses in the buffer', () => source.buffer.counters().newestPulseId ?? undefined, 10_000, 10);
    const first = newest + 20;
    const last = first + 39;
    const metadata = { user: 'p12345', instrument: 'SIM', process: 'h5py read-back', created: '2026-12-07T01:00:00Z' };
    const created = await runtime.create(
      'acquisition',
      'start',
      await prepareAcquisitionStart({ outputFile: 'by-h5py.h5', startPulseId: first, stopPulseId: last, metadata }, { source, dataRoot }),
    );
    const done = await settled(runtime, 'acquisition', created.id);
    expect(done.state, JSON.stringify(done.summary)).toBe('completed');

    const file = await h5pyDescribe(join(dataRoot, 'by-h5py.h5'));
    const object = (path: string): H5pyObject => {
      const o = file[path];
      if (o === undefined) throw new Error(`${path} is not in the file: ${Object.keys(file).join(', ')}`);
      return o;
    };
    // sf_bsread_writer's two groups; /staging is the writer's second name for /data (swissfelLayout.ts).
    expect(object('/').keys).toEqual(['data', 'general', 'staging']);
    // Beside the layout: the acquisition the file was written for, and its writer's summary (docs/formats.md).
    const rootAttrs = object('/').attrs as Record<string, unknown>;
    expect(Object.keys(rootAttrs).sort()).toEqual(['daqflow_acquisition', 'daqflow_summary', 'layout']);
    expect(rootAttrs).toMatchObject({ layout: SWISSFEL_LAYOUT_VERSION, daqflow_acquisition: created.id });
    expect(JSON.parse(String(rootAttrs['daqflow_summary']))).toMatchObject({ firstPulseId: first, lastPulseId: last, rows: 40 });
    // /general: numpy.string_ of each value, which h5py reads back as bytes of a fixed-length string.
    expect(object('/general').keys).toEqual(['created', 'instrument', 'process', 'user']);
    for (const [field, text] of Object.entries(metadata)) {
      expect(object(`/general/${field}`), field).toMatchObject({ kind: 'dataset', dtype: `|S${text.length}`, shape: [], isBytes: true, text });
    }
    const rows = last - first + 1;
    const pulseIds = Array.from({ length: rows }, (_, r) => first + r);
    const sent = sim.expected(first)!.channels;
    expect([...object('/data').keys!].sort()).toEqual(sent.map((c) => c.name).sort());
    for (const [index, channel] of sent.entries()) {
      const at = `/data/${channel.name}`;
      expect(object(at).keys, at).toEqual(['data', 'is_data_present', 'pulse_id']);
      const pulseId = object(`${at}/pulse_id`);
      expect(pulseId, at).toMatchObject({ dtype: '<i8', shape: [rows] });
      const ids = new BigInt64Array(Uint8Array.from(Buffer.from(pulseId.le_hex!, 'hex')).buffer);
      expect(Array.from(ids, Number), at).toEqual(pulseIds);
      const values = pulseIds.map((p) => sim.expected(p)!.values[index] ?? null);
      expect(object(`${at}/is_data_present`), at).toMatchObject({
        dtype: '|u1',
        shape: [rows],
        le_hex: hex(Uint8Array.from(values, (v) => (v === null ? 0 : 1))),
      });
      const data = object(`${at}/data`);
      if (channel.type === 'string') {
        // sf_bsread_writer: h5py.special_dtype(vlen=str), one string per row; a missing value is ''.
        expect(data, at).toMatchObject({ dtype: '|O', shape: [rows], string: { encoding: 'utf-8', length: null } });
        expect(data.text, at).toEqual(values.map((v) => (v === null ? '' : new TextDecoder().decode(v))));
        continue;
      }
      // sf_bsread_writer: [N] + reversed(bsread shape), so scalars are (N, 1).
      const rowShape = hdf5ShapeOf(channel);
      expect(data, at).toMatchObject({ dtype: daqflowDataDtype(channel.type), shape: [rows, ...(rowShape.length === 0 ? [1] : rowShape)] });
      const rowBytes = rowShape.reduce((a, b) => a * b, 1) * elementSize(channel.type);
      expect(data.le_hex, at).toBe(values.map((v) => (v === null ? '00'.repeat(rowBytes) : hex(v))).join(''));
    }
  });

  it("a grab run's file has the grab layout, and h5py reads the values h5wasm reads", async () => {
    const dataRoot = join(scratch, 'grab');
    const simulator = createSimulatorSource({ seed: 'h5py', rateHz: 2 });
    const runtime = new ActorRuntime({
      store,
      schemas: new EventSchemas(),
      definitions: [defineActor(grabRunActor)],
      effects: { grab: createGrabEffects({ source: simulator, dataRoot }) },
      newId,
    });
    await runtime.start();
    cleanups.push(() => runtime.stop(500));
    const parameters = ['SIM:SINE', 'SIM:NANS', 'SIM:CONST'];
    const request = await prepareGrabStart(
      { parameters, window: { minutes: 10 }, chunkSeconds: 240, outDir: 'out' },
      { source: simulator, dataRoot, timeZone: 'UTC', reference: new Date('2026-12-01T12:00:00Z') },
    );
    const created = await runtime.create('grab', 'start', request);
    const done = await settled(runtime, 'grab', created.id);
    expect(done.state, JSON.stringify(done.summary)).toBe('completed');
    const path = done.summary['outputFile'] as string;

    const file = await h5pyDescribe(path);
    const byH5wasm = await readGrabFile(path);
    expect(file['/']!.attrs).toMatchObject({
      layout: GRAB_LAYOUT_VERSION,
      daqflow_run_id: created.id,
      window_start: byH5wasm.attributes['window_start'],
      window_stop: byH5wasm.attributes['window_stop'],
      created: byH5wasm.attributes['created'],
    });
    expect([...file['/']!.keys!].sort()).toEqual([...parameters].sort());
    for (const parameter of parameters) {
      const at = `/${parameter}`;
      const series = byH5wasm.series.get(parameter)!;
      const n = series.times.length;
      expect(n, `${parameter} has samples`).toBeGreaterThan(0);
      expect(file[at], at).toMatchObject({ kind: 'group', attrs: { parameter } });
      expect([...file[at]!.keys!].sort(), at).toEqual(['utc_seconds', 'value']);
      expect(file[`${at}/utc_seconds`], at).toMatchObject({
        dtype: '<f8',
        shape: [n],
        attrs: { units: 's', epoch: '1970-01-01T00:00:00Z' },
        le_hex: hex(new Uint8Array(series.times.buffer, series.times.byteOffset, series.times.byteLength)),
      });
      expect(file[`${at}/value`], at).toMatchObject({
        dtype: '<f8',
        shape: [n],
        attrs: series.units === undefined ? {} : { units: series.units },
        le_hex: hex(new Uint8Array(series.values.buffer, series.values.byteOffset, series.values.byteLength)),
      });
    }
  });
});
