import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { warmUpSwissfelWriter } from './swissfelWriterWarmUp.js';

const ownFolders = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith(`daqflow-writer-warm-up-${process.pid}-`));

describe("the writer thread's warm-up file", () => {
  it('writes a whole file and leaves nothing behind; removes the folders of processes that are gone', async () => {
    // A folder left by a process that no longer runs (pid beyond the kernel's pid_max).
    const stale = join(tmpdir(), 'daqflow-writer-warm-up-99999999-1-left');
    mkdirSync(stale, { recursive: true });
    const before = ownFolders();
    const result = await warmUpSwissfelWriter();
    expect(result.complete).toBe(true);
    expect(ownFolders()).toEqual(before);
    expect(existsSync(stale)).toBe(false);
  });

  it('gives way within a few pulses when asked, and leaves nothing behind either', async () => {
    let asked = 0;
    const before = ownFolders();
    const result = await warmUpSwissfelWriter(() => ++asked >= 2);
    expect(result.complete).toBe(false);
    expect(asked).toBe(2);
    expect(ownFolders()).toEqual(before);
  });
});
