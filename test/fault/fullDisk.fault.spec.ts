import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { isDaqflowError } from '../../events/errors.js';
import { openGrabFile } from '../../adapters/hdf5/grabFileWriter.js';
import { startDaqflowProcess } from '../harness/daqflowProcess.js';
import { apiRequest, useE2eEnvironments, waitFor, type DaqflowEnvironment } from '../e2e/e2eHelpers.js';

/*
 * A data root whose `full/` folder is a 2 MiB tmpfs this spec mounts (it runs as root, as the
 * test machines do): an acquisition writing there fills it. docs/reliability.md: the job fails
 * with WRITE_FAILED naming the path and the errno, nothing appears under the final name, and an
 * acquisition writing to another folder of the same data root goes on and completes. The
 * simulated stream writes about 0.8 MB/s, so the 2 MiB are full within seconds. The grab writer
 * had the same hole (h5wasm returns normally from a refused write, see h5WriteFailures.ts): its
 * case writes into a 1 MiB tmpfs directly.
 */

const e2e = useE2eEnvironments('fault-full-disk');
let nc: NatsConnection | undefined;
let mounted: string | undefined;

afterAll(async () => {
  await nc?.close();
  // Runs before useE2eEnvironments' cleanup (after-hooks run in reverse order), while daqflow may
  // still hold the file open: a lazy unmount detaches the tmpfs at once and frees it when released.
  if (mounted) execFileSync('umount', ['-l', mounted]);
});

const get = async (env: DaqflowEnvironment, id: unknown): Promise<Record<string, unknown>> => {
  const r = await apiRequest(nc!, `${env.prefix}.acquisitions.get`, { id }, 10_000);
  if (r.kind !== 'ok') throw new Error(JSON.stringify(r));
  return r.body;
};

describe('a data root folder that fills up during an acquisition', () => {
  it('fails that acquisition with WRITE_FAILED naming ENOSPC and the path, keeps no final file, and another acquisition completes', async () => {
    const env = await e2e.create();
    const dataRoot = join(e2e.home, 'data');
    mounted = join(dataRoot, 'full');
    mkdirSync(mounted, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mounted]);
    await startDaqflowProcess({ env: { ...env.env, DAQFLOW_DATA_ROOT: dataRoot } });
    nc = await connect({ servers: inject('natsUrl'), name: 'fault-full-disk' });

    const start = async (outputFile: string): Promise<Record<string, unknown>> => {
      const r = await apiRequest(nc!, `${env.prefix}.acquisitions.start`, { outputFile, startNow: true }, 10_000);
      if (r.kind !== 'ok') throw new Error(JSON.stringify(r));
      return r.body;
    };
    const beside = await start('ok/beside.h5');
    const filling = await start('full/run.h5');

    let last: Record<string, unknown> = {};
    const failed = await waitFor(() => `the acquisition on the full folder to end: ${JSON.stringify(last)}, df: ${execFileSync('df', ['-k', mounted!]).toString().split('\n')[1]}`, async () => {
      last = await get(env, filling.id);
      return last.final ? last : undefined;
    }, 45_000);
    console.log('full disk: the failed acquisition reads', JSON.stringify(failed));
    expect(failed.state).toBe('failed');
    expect(JSON.stringify(failed)).toMatch(/WRITE_FAILED/);
    expect(JSON.stringify(failed)).toMatch(/ENOSPC|no space left/i);
    expect(JSON.stringify(failed)).toContain(mounted);
    expect(existsSync(join(mounted, 'run.h5')), 'nothing under the final name').toBe(false);

    // The other acquisition never noticed: it is still writing, and completes when stopped.
    expect((await get(env, beside.id)).final).toBe(false);
    const stop = await apiRequest(nc, `${env.prefix}.acquisitions.stop`, { id: beside.id, now: true }, 10_000);
    expect(stop.kind).toBe('ok');
    const done = await waitFor('the acquisition beside to end', async () => {
      const view = await get(env, beside.id);
      return view.final ? view : undefined;
    }, 60_000);
    expect(done.state).toBe('completed');
    expect(existsSync(join(dataRoot, 'ok', 'beside.h5'))).toBe(true);
    console.log('full disk: left in the full folder', readdirSync(mounted));
    rmSync(join(mounted, 'run.h5'), { force: true });
  }, 240_000);
});

describe('a grab file whose folder fills up', () => {
  let grabMount: string | undefined;
  afterAll(() => {
    if (grabMount) {
      execFileSync('umount', ['-l', grabMount]);
      rmSync(grabMount, { recursive: true, force: true });
    }
  });

  it('fails the append that the file system refused, naming ENOSPC and the draft, and publishes nothing', async () => {
    grabMount = mkdtempSync(join(tmpdir(), 'daqflow-full-grab-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', grabMount]);
    const window = { start: new Date('2024-03-14T00:00:00Z'), stop: new Date('2024-03-15T00:00:00Z') };
    const writer = await openGrabFile({ dataRoot: grabMount, draftDir: 'draft', outDir: 'out', window, created: new Date('2024-03-15T01:00:00Z') });
    // 1 MiB per append (times and values of 64 Ki samples): the 1 MiB folder is full within two.
    const n = 64 * 1024;
    let refused: unknown;
    for (let i = 0; i < 16 && refused === undefined; i++) {
      const times = Float64Array.from({ length: n }, (_, k) => i * n + k);
      try {
        writer.appendSamples('SIG:FILL', times, times);
      } catch (e) {
        refused = e;
      }
    }
    expect(refused, '16 MiB appended to a 1 MiB file system without an error').toBeDefined();
    expect(isDaqflowError(refused)).toBe(true);
    expect(String((refused as Error).message)).toMatch(/ENOSPC/);
    expect(String((refused as Error).message)).toContain(writer.draftPath);
    // The writer is failed: no finish publishes what is left; the draft stays for the operator.
    await expect(writer.finish()).rejects.toThrow(/cannot finish/);
    expect((await writer.abort()).draftPath).toBe(writer.draftPath);
    expect(existsSync(writer.draftPath)).toBe(true);
    expect(existsSync(join(grabMount, 'out')) ? readdirSync(join(grabMount, 'out')) : []).toEqual([]);
  }, 60_000);
});
