import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BsreadChannelConfig } from '../bsread/bsreadMessage.js';
import { BsreadValues } from '../bsread/bsreadValues.js';
import { readSwissfelOwner } from './readSwissfelOwner.js';
import { openSwissfelFile } from './swissfelWriter.js';

/*
 * A finished file names the acquisition it was written for, with its writer's summary; a file
 * without them (or not HDF5, or not there) is nobody's.
 */

const scratch = mkdtempSync(join(tmpdir(), 'daqflow-swissfel-owner-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const channel: BsreadChannelConfig = { name: 'X', type: 'float64', shape: [1], encoding: 'little', compression: 'none', modulo: 1, offset: 0 };

const writeFile = async (outputFile: string, acquisitionId?: string): Promise<string> => {
  const writer = await openSwissfelFile({ outputFile, dataRoot: scratch, ...(acquisitionId === undefined ? {} : { acquisitionId }) });
  for (const pulseId of [10, 11, 13]) {
    const bytes = new Uint8Array(new Float64Array([pulseId]).buffer);
    writer.writePulse(pulseId, { pulseId, globalTimestamp: { sec: pulseId, ns: 0 }, hash: 'h', channels: [channel], values: BsreadValues.from([{ bytes, timestamp: null }]), wireBytes: 8 });
  }
  return (await writer.finish()).path;
};

describe('readSwissfelOwner', () => {
  it("reads the acquisition's id and the writer's summary of a file written for it", async () => {
    const path = await writeFile('owned.h5', 'acq-1');
    const owner = await readSwissfelOwner(path);
    expect(owner?.acquisitionId).toBe('acq-1');
    expect(owner?.stats).toMatchObject({ firstPulseId: 10, lastPulseId: 13, rows: 4, pulsesWithMessage: 3, pulsesMissing: 1 });
    expect(owner?.bytes).toBeGreaterThan(0);
  });

  it('finds no owner in a file written for nobody, a file that is not HDF5, a folder, or no file', async () => {
    expect(await readSwissfelOwner(await writeFile('nobody.h5'))).toBeUndefined();
    const text = join(scratch, 'text.h5');
    writeFileSync(text, 'not hdf5');
    expect(await readSwissfelOwner(text)).toBeUndefined();
    expect(await readSwissfelOwner(scratch)).toBeUndefined();
    expect(await readSwissfelOwner(join(scratch, 'missing.h5'))).toBeUndefined();
  });
});
