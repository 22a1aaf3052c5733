import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isPartialFile, writeFileAtomic } from './writeFileAtomic.js';

const root = mkdtempSync(join(tmpdir(), 'daqflow-atomic-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('atomic file writes', () => {
  it('writes the file, making its folders, and leaves no temp file', async () => {
    const target = join(root, 'a', 'b', 'plot.svg');
    await writeFileAtomic(target, '<svg/>');
    expect(readFileSync(target, 'utf8')).toBe('<svg/>');
    expect(readdirSync(join(root, 'a', 'b'))).toEqual(['plot.svg']);
  });

  it('replaces an existing file whole', async () => {
    const target = join(root, 'replace.html');
    writeFileSync(target, 'old content that is longer than the new one');
    await writeFileAtomic(target, Buffer.from('new'));
    expect(readFileSync(target, 'utf8')).toBe('new');
  });

  it('keeps the old file and removes its temp file when the write cannot finish', async () => {
    // A folder with content cannot be renamed over: the last step fails after the data was written.
    const dir = join(root, 'blocked');
    const target = join(dir, 'index.html');
    mkdirSync(join(target, 'inside'), { recursive: true });
    await expect(writeFileAtomic(target, 'x'.repeat(100_000))).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['index.html']);
    expect(readdirSync(target)).toEqual(['inside']);
  });

  it('names its temp files so that publishers can leave them out', () => {
    expect(isPartialFile('/r/.plot.png.4f1c2a.partial')).toBe(true);
    expect(isPartialFile('/r/plot.png')).toBe(false);
    expect(isPartialFile('/r/plot.partial')).toBe(false);
  });
});
