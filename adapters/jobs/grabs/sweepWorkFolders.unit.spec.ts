import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../../events/envelope.js';
import { sweepWorkFolders } from './sweepWorkFolders.js';

const root = mkdtempSync(join(tmpdir(), 'daqflow-sweep-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The store's view of each run: its last event's `final`, or no events at all. */
const store = (runs: Record<string, boolean>) => ({
  readLast: (kind: string, id: string) =>
    Promise.resolve(kind === 'grab' && id in runs ? ({ final: runs[id], state: runs[id] ? 'completed' : 'fetching' } as RecordedEvent) : undefined),
});

const workFolder = (...parts: string[]): string => {
  const dir = join(root, ...parts);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'chunk-000000.f64'), 'x');
  return dir;
};

describe('sweeping grab work folders at start-up', () => {
  it('removes those of finished runs at any depth, keeps unfinished and unknown ones and everything else', async () => {
    const finished = workFolder('drafts', '.daqflow-grab-done1');
    const deep = workFolder('beamline', 'x', 'drafts', '.daqflow-grab-done2');
    const running = workFolder('drafts', '.daqflow-grab-running');
    const unknown = workFolder('drafts', '.daqflow-grab-other-deployment');
    const file = join(root, 'MLParamData_1_20261121T000000Z_to_20261122T000000Z.h5');
    writeFileSync(file, 'data');
    const result = await sweepWorkFolders(root, store({ done1: true, done2: true, running: false }));
    expect(result.removed.sort()).toEqual([finished, deep].sort());
    expect(result.kept).toBe(2);
    expect([finished, deep].map(existsSync)).toEqual([false, false]);
    expect([running, unknown, file].map(existsSync)).toEqual([true, true, true]);
  });

  it('is fine with a data root that does not exist yet', async () => {
    expect(await sweepWorkFolders(join(root, 'nope'), store({}))).toEqual({ removed: [], kept: 0 });
  });
});
