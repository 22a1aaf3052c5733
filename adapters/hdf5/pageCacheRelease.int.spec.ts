import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createPageCacheRelease, type PageCacheRelease } from './pageCacheRelease.js';

const scratch = mkdtempSync(join(tmpdir(), 'daqflow-pagecache-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const MiB = 1024 * 1024;

/** Bytes of `path` in the page cache, as util-linux's fincore counts them. */
const resident = (path: string): number =>
  Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', path], { encoding: 'utf8' }).trim());

/**
 * Writes `mib` MiB in 1 MiB pieces (piece i filled with i), telling `release` of each, a few ms
 * apart as pulses come.
 */
const writeFile = async (path: string, mib: number, release?: PageCacheRelease): Promise<void> => {
  const fd = openSync(path, 'w');
  try {
    for (let i = 0; i < mib; i++) {
      writeSync(fd, Buffer.alloc(MiB, i % 256));
      release?.written(MiB);
      await new Promise((r) => setTimeout(r, 3));
    }
  } finally {
    closeSync(fd);
  }
};

describe('releasing a written file from the page cache', () => {
  it('keeps far less of the file in the cache than writing without it, and changes none of its bytes', async () => {
    const kept = join(scratch, 'kept.bin');
    await writeFile(kept, 64);
    const released = join(scratch, 'released.bin');
    const release = createPageCacheRelease(released, 4 * MiB);
    await writeFile(released, 64, release);
    await release.settle();
    // What the last release did not cover (written while it ran, or after it) may stay.
    expect(resident(kept)).toBeGreaterThan(0.9 * 64 * MiB);
    expect(resident(released)).toBeLessThan(0.6 * 64 * MiB);
    expect(release.counters()).toMatchObject({ stopped: null, releases: expect.any(Number) });
    expect(release.counters().releases).toBeGreaterThanOrEqual(1);
    const bytes = readFileSync(released);
    expect(bytes.length).toBe(64 * MiB);
    for (let i = 0; i < 64; i++) expect([bytes[i * MiB], bytes[i * MiB + MiB - 1]]).toEqual([i, i]);
  });

  it('stops, saying why, when dd cannot run; the file is written all the same', async () => {
    const path = join(scratch, 'no-dd.bin');
    const release = createPageCacheRelease(path, MiB, 'daqflow-no-such-dd');
    await writeFile(path, 8, release);
    await release.settle();
    expect(release.counters()).toEqual({ releases: 0, stopped: expect.stringMatching(/^dd exited with 127: .*daqflow-no-such-dd/) });
    expect(readFileSync(path).length).toBe(8 * MiB);
  });

  it('does nothing when disabled', async () => {
    const path = join(scratch, 'off.bin');
    const release = createPageCacheRelease(path, 0);
    await writeFile(path, 4, release);
    await release.settle();
    expect(release.counters()).toEqual({ releases: 0, stopped: 'disabled' });
  });
});
