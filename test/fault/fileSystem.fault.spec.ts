import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startDaqflowProcess, type DaqflowProcess } from '../harness/daqflowProcess.js';
import { apiRequest, useE2eEnvironments, waitFor, type ApiOutcome, type DaqflowEnvironment } from '../e2e/e2eHelpers.js';

/*
 * Local file-system faults other than a full disk (fullDisk.fault.spec.ts), for acquisitions and
 * grabs of a real `daqflow up`: a read-only folder inside the data root (a tmpfs mounted `ro`:
 * the test machines run as root, for whom a chmod means nothing), and a draft deleted while its
 * writer runs. docs/reliability.md records what the user sees and what is kept.
 */

const e2e = useE2eEnvironments('fault-file-system');
let nc: NatsConnection;
let env: DaqflowEnvironment;
let daqflow: DaqflowProcess;
let dataRoot: string;
let readOnly: string | undefined;

beforeAll(async () => {
  env = await e2e.create();
  dataRoot = join(e2e.home, 'data');
  readOnly = join(dataRoot, 'ro');
  mkdirSync(readOnly, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,ro', 'tmpfs', readOnly]);
  daqflow = await startDaqflowProcess({ env: { ...env.env, DAQFLOW_DATA_ROOT: dataRoot, DAQFLOW_HTTP: 'none' } });
  nc = await connect({ servers: inject('natsUrl'), name: 'fault-file-system' });
}, 120_000);

afterAll(async () => {
  await nc?.close();
  daqflow?.kill('SIGKILL');
  if (readOnly) execFileSync('umount', ['-l', readOnly]);
});

const request = (subject: string, body: unknown): Promise<ApiOutcome> => apiRequest(nc, `${env.prefix}.${subject}`, body, 15_000);
const ok = async (subject: string, body: unknown): Promise<Record<string, unknown>> => {
  const r = await request(subject, body);
  if (r.kind !== 'ok') throw new Error(`${subject}: ${JSON.stringify(r)}`);
  return r.body;
};
const untilFinal = (kind: 'acquisitions' | 'grabs', id: unknown): Promise<Record<string, unknown>> =>
  waitFor(`${kind} ${String(id)} to end`, async () => {
    const view = await ok(`${kind}.get`, { id });
    return view.final ? view : undefined;
  }, 60_000);

describe('a read-only folder in the data root', () => {
  it('an acquisition into it is a 400 naming EROFS (it was accepted, then failed after seconds with an HDF5 message that named no errno)', async () => {
    const r = await request('acquisitions.start', { outputFile: 'ro/run.h5', startNow: true });
    console.log('read-only folder, acquisition:', JSON.stringify(r));
    expect(r).toMatchObject({ kind: 'refused', status: '400', body: { error: { code: 'VALIDATION_FAILED' } } });
    expect(JSON.stringify(r)).toMatch(/outputFile.*EROFS/);
    expect(readdirSync(readOnly!)).toEqual([]);
    // Nothing else is held up: an acquisition into a writable folder completes.
    const beside = await ok('acquisitions.start', { outputFile: 'rw/beside.h5', startNow: true });
    await ok('acquisitions.stop', { id: beside.id, now: true });
    expect((await untilFinal('acquisitions', beside.id)).state).toBe('completed');
  }, 120_000);

  it('a grab whose out folder is read-only is a 400 naming EROFS (it fetched every chunk, then failed with ENOENT from mkdir)', async () => {
    for (const body of [
      { parameters: ['SIM:SINE'], startAt: '2026-11-20T00:00:00Z', stopAt: '2026-11-20T00:10:00Z', outDir: 'ro/grabs' },
      { parameters: ['SIM:SINE'], startAt: '2026-11-20T00:00:00Z', stopAt: '2026-11-20T00:10:00Z', outDir: 'grabs', draftDir: 'ro' },
    ]) {
      const r = await request('grabs.start', body);
      console.log('read-only folder, grab:', JSON.stringify(r));
      expect(r).toMatchObject({ kind: 'refused', status: '400', body: { error: { code: 'VALIDATION_FAILED' } } });
      expect(JSON.stringify(r)).toMatch(/(outDir|draftDir).*EROFS/);
    }
    expect(readdirSync(readOnly!)).toEqual([]);
    const done = await ok('grabs.start', { parameters: ['SIM:SINE'], startAt: '2026-11-20T00:00:00Z', stopAt: '2026-11-20T00:10:00Z', outDir: 'grabs' });
    expect((await untilFinal('grabs', done.id)).state).toBe('completed');
  }, 120_000);
});

describe('a draft deleted under a running acquisition', () => {
  it('the acquisition ends failed with WRITE_FAILED naming ENOENT and reports no file; daqflow goes on', async () => {
    const started = await ok('acquisitions.start', { outputFile: 'deleted/run.h5', startNow: true });
    const writing = await waitFor('the acquisition to write', async () => {
      const view = await ok('acquisitions.get', { id: started.id });
      return Number(view.pulsesWritten) > 20 ? view : undefined;
    }, 30_000);
    const folder = join(dataRoot, 'deleted');
    const drafts = readdirSync(folder, { recursive: true }).map(String);
    console.log('deleted draft: the folder holds', drafts, 'draftPath', writing.draftPath);
    for (const f of drafts) rmSync(join(folder, f), { recursive: true, force: true });
    await ok('acquisitions.stop', { id: started.id, now: true });
    const ended = await untilFinal('acquisitions', started.id);
    console.log('deleted draft: the acquisition ended', JSON.stringify(ended));
    expect(ended.state).toBe('failed');
    expect(String(ended.error)).toMatch(/^WRITE_FAILED: .*ENOENT/);
    // It was deleted: the error must not send anyone to look for it.
    expect(String(ended.error)).not.toMatch(/the draft stays at/);
    expect(existsSync(String(ended.outputFile)), 'nothing under the final name').toBe(false);
    expect(daqflow.child.exitCode).toBeNull();
  }, 120_000);
});
