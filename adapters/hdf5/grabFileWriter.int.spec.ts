import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import h5wasm from 'h5wasm/node';
import type { Dataset, File as H5File } from 'h5wasm/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDaqflowError } from '../../events/errors.js';
import { grabFileName, parseGrabFileName, unescapeParameterName } from './grabFileLayout.js';
import { publishDraft } from '../files/publishDraft.js';
import { openGrabFile, type OpenGrabFileOptions } from './grabFileWriter.js';

const scratch = mkdtempSync(join(tmpdir(), 'daqflow-hdf5-'));
let n = 0;
/** A fresh data root per test, with its real path (tmpdir may itself be a symlink). */
const freshRoot = (): string => {
  const root = join(scratch, `root${++n}`);
  mkdirSync(root);
  return root;
};

const window = { start: new Date('2024-03-14T00:00:00Z'), stop: new Date('2024-03-15T00:00:00Z') };
const created = new Date('2024-03-15T01:00:00Z');
const fileName = grabFileName(window, created);
const options = (dataRoot: string, more: Partial<OpenGrabFileOptions> = {}): OpenGrabFileOptions => ({
  dataRoot,
  draftDir: 'draft',
  outDir: 'out',
  window,
  created,
  ...more,
});

const f64 = (xs: readonly number[]): Float64Array => Float64Array.from(xs);

const dataset = (file: H5File, path: string): Dataset => {
  const d = file.get(path);
  if (!(d instanceof h5wasm.Dataset)) throw new Error(`${path} is not a dataset`);
  return d;
};
const read = (file: H5File, path: string): Float64Array => {
  const value = dataset(file, path).value;
  if (!(value instanceof Float64Array)) throw new Error(`${path} is not float64`);
  return value;
};
const attr = (file: H5File, path: string, name: string): unknown => {
  const entity = path === '/' ? file : file.get(path);
  if (!(entity instanceof h5wasm.Group) && !(entity instanceof h5wasm.Dataset)) throw new Error(`${path} has no attributes`);
  return entity.attrs[name]?.value;
};
/** Exact equality, element by element, NaN equal to NaN and 0 distinct from -0. */
const expectSame = (actual: Float64Array, expected: Float64Array): void => {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) expect.fail(`element ${i}: ${actual[i]} !== ${expected[i]}`);
  }
};
const withFile = <T>(path: string, f: (file: H5File) => T): T => {
  const file = new h5wasm.File(path, 'r');
  try {
    return f(file);
  } finally {
    file.close();
  }
};
const expectRefused = async (p: Promise<unknown>, message: RegExp): Promise<void> => {
  const e: unknown = await p.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(isDaqflowError(e) && e.code === 'VALIDATION_FAILED', String(e)).toBe(true);
  expect(String((e as Error).message)).toMatch(message);
};

beforeAll(async () => {
  await h5wasm.ready;
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe('openGrabFile', () => {
  it('writes every time and value exactly, NaN included, with units where given', async () => {
    const root = freshRoot();
    const w = await openGrabFile(options(root));
    const t1 = f64([1710374400, 1710374400.5, 1710374401.25, 1710374402]);
    const v1 = f64([1.5, Number.NaN, -0, Number.POSITIVE_INFINITY]);
    const t2 = f64([1710374400 + 0.123456789, 1710374460]);
    const v2 = f64([Number.MAX_VALUE, Number.MIN_VALUE]);
    w.appendSamples('B:VIMIN', t1, v1, 'A');
    w.appendSamples('G:OUTTMP', t2, v2);
    const result = await w.finish();

    expect(result).toEqual({ path: join(root, 'out', fileName), bytes: statSync(result.path).size, parameters: 2, samples: 6 });
    withFile(result.path, (file) => {
      expect(file.keys().sort()).toEqual(['B:VIMIN', 'G:OUTTMP']);
      expectSame(read(file, '/B:VIMIN/utc_seconds'), t1);
      expectSame(read(file, '/B:VIMIN/value'), v1);
      expectSame(read(file, '/G:OUTTMP/utc_seconds'), t2);
      expectSame(read(file, '/G:OUTTMP/value'), v2);
      expect(dataset(file, '/B:VIMIN/value').dtype).toBe('<d');
      expect(dataset(file, '/B:VIMIN/utc_seconds').dtype).toBe('<d');
      expect(attr(file, '/B:VIMIN/value', 'units')).toBe('A');
      expect(attr(file, '/G:OUTTMP/value', 'units')).toBeUndefined();
      expect(attr(file, '/B:VIMIN/utc_seconds', 'units')).toBe('s');
      expect(attr(file, '/B:VIMIN', 'parameter')).toBe('B:VIMIN');
      expect(attr(file, '/', 'window_start')).toBe('2024-03-14T00:00:00.000Z');
      expect(attr(file, '/', 'window_stop')).toBe('2024-03-15T00:00:00.000Z');
      expect(attr(file, '/', 'created')).toBe('2024-03-15T01:00:00.000Z');
      expect(attr(file, '/', 'layout')).toBe('daqflow-grab/1');
    });
  });

  it('gives the same datasets for many small appends as for one big one, across chunk borders', async () => {
    const root = freshRoot();
    const w = await openGrabFile(options(root, { chunkSamples: 16 }));
    const total = 1_000;
    const times = new Float64Array(total).map((_, i) => 1e9 + i * 0.1);
    const values = new Float64Array(total).map((_, i) => (i % 7 === 0 ? Number.NaN : Math.sin(i) * 1e6));
    const sizes = [1, 15, 16, 17, 0, 100, 251, 600];
    expect(sizes.reduce((a, b) => a + b)).toBe(total);
    let at = 0;
    for (const size of sizes) {
      w.appendSamples('M:PIECES', times.subarray(at, at + size), values.subarray(at, at + size), 'mm');
      w.appendSamples('M:INTERLEAVED', times.subarray(at, at + size), values.subarray(at, at + size));
      at += size;
      expect(w.samplesOf('M:PIECES')).toBe(at);
    }
    w.appendSamples('M:WHOLE', times, values, 'mm');
    const result = await w.finish();
    expect(result).toMatchObject({ parameters: 3, samples: 3 * total });

    withFile(result.path, (file) => {
      for (const p of ['M:PIECES', 'M:INTERLEAVED', 'M:WHOLE']) {
        expectSame(read(file, `/${p}/utc_seconds`), times);
        expectSame(read(file, `/${p}/value`), values);
        expect(dataset(file, `/${p}/value`).shape).toEqual([total]);
      }
      expect(attr(file, '/M:PIECES/value', 'units')).toBe('mm');
    });
  });

  it('writes extra root attributes and the events prefix when asked, and refuses to replace the layout\'s', async () => {
    const root = freshRoot();
    const w = await openGrabFile(options(root, { prefix: 'MLEventData', attributes: { daqflow_run_id: 'run-42' } }));
    const result = await w.finish();
    expect(result.path).toBe(join(root, 'out', grabFileName(window, created, 'MLEventData')));
    withFile(result.path, (file) => {
      expect(attr(file, '/', 'daqflow_run_id')).toBe('run-42');
      expect(attr(file, '/', 'layout')).toBe('daqflow-grab/1');
    });
    await expectRefused(openGrabFile(options(root, { attributes: { layout: 'mine' } })), /belongs to the layout/);
    await expectRefused(openGrabFile(options(root, { attributes: { '': 'x' } })), /empty/);
  });

  it('never replaces another run\'s file of the same name: the next one is <name>-2.h5; a run replaces its own', async () => {
    const root = freshRoot();
    const finishRun = async (runId: string, value: number): Promise<string> => {
      const writer = await openGrabFile(options(root, { attributes: { daqflow_run_id: runId } }));
      writer.appendSamples('P', f64([1]), f64([value]));
      return (await writer.finish()).path;
    };
    const first = await finishRun('run-a', 1);
    const second = await finishRun('run-b', 2);
    const again = await finishRun('run-a', 3);
    expect(basename(first)).toBe(fileName);
    expect(basename(second)).toBe(fileName.replace(/\.h5$/, '-2.h5'));
    expect(again).toBe(first);
    expect(parseGrabFileName(basename(second))).toEqual(parseGrabFileName(fileName));
    expect(withFile(first, (f) => [...read(f, '/P/value')])).toEqual([3]);
    expect(withFile(second, (f) => [...read(f, '/P/value')])).toEqual([2]);
    const aborted = new AbortController();
    aborted.abort(new Error('cancelled'));
    const writer = await openGrabFile(options(root, { attributes: { daqflow_run_id: 'run-c' } }));
    await expect(writer.finish(aborted.signal)).rejects.toThrow(/cancelled/);
    expect(readdirSync(join(root, 'out')).filter((f) => f.endsWith('.h5')).sort()).toEqual([fileName, basename(second)].sort());
  });

  it('shows the file in outDir only after finish; before, only a hidden draft exists', async () => {
    const root = freshRoot();
    const w = await openGrabFile(options(root));
    const out = join(root, 'out');
    const draft = join(root, 'draft');
    expect(w.draftPath).toBe(join(draft, `.${fileName}.draft`));
    expect(w.finalPath).toBe(join(out, fileName));
    expect(readdirSync(out)).toEqual([]);
    expect(readdirSync(draft)).toEqual([`.${fileName}.draft`]);

    w.appendSamples('B:VIMIN', f64([1, 2, 3]), f64([4, 5, 6]));
    expect(readdirSync(out)).toEqual([]);
    const result = await w.finish();
    expect(readdirSync(out)).toEqual([fileName]);
    expect(readdirSync(draft)).toEqual([]);
    expect(result.bytes).toBe(statSync(join(out, fileName)).size);
    expect(() => w.appendSamples('B:VIMIN', f64([4]), f64([7]))).toThrow(/finished/);
  });

  it('publishes into the same folder when draftDir is outDir, still under a hidden draft name first', async () => {
    const root = freshRoot();
    const w = await openGrabFile(options(root, { draftDir: '.', outDir: root }));
    expect(readdirSync(root)).toEqual([`.${fileName}.draft`]);
    const result = await w.finish();
    expect(readdirSync(root)).toEqual([fileName]);
    expect(result).toMatchObject({ parameters: 0, samples: 0 });
  });

  it('keeps the draft on abort, names it, and leaves outDir empty', async () => {
    const root = freshRoot();
    const w = await openGrabFile(options(root));
    w.appendSamples('B:VIMIN', f64([1, 2]), f64([3, Number.NaN]), 'A');
    const { draftPath } = await w.abort();
    expect(draftPath).toBe(w.draftPath);
    expect(readdirSync(join(root, 'out'))).toEqual([]);
    expect(existsSync(draftPath)).toBe(true);
    withFile(draftPath, (file) => expectSame(read(file, '/B:VIMIN/value'), f64([3, Number.NaN])));
    await expect(w.finish()).rejects.toThrow(/aborted/);
    expect(await w.abort()).toEqual({ draftPath }); // a second abort is harmless

    // A later try of the same run starts its draft afresh.
    const again = await openGrabFile(options(root));
    again.appendSamples('G:OUTTMP', f64([1]), f64([2]));
    const result = await again.finish();
    withFile(result.path, (file) => expect(file.keys()).toEqual(['G:OUTTMP']));
  });

  it('refuses draft and out folders outside the data root: .., absolute elsewhere, a symlink out', async () => {
    const root = freshRoot();
    const elsewhere = mkdtempSync(join(scratch, 'elsewhere-'));
    symlinkSync(elsewhere, join(root, 'escape'));
    mkdirSync(join(root, 'inside'));
    symlinkSync(join(root, 'inside'), join(root, 'alias'));

    await expectRefused(openGrabFile(options(root, { draftDir: '..' })), /draftDir ".." resolves to .*outside the data root/);
    await expectRefused(openGrabFile(options(root, { outDir: '../x' })), /outDir/);
    await expectRefused(openGrabFile(options(root, { outDir: join(root, 'a', '..', '..', 'b') })), /outside the data root/);
    await expectRefused(openGrabFile(options(root, { outDir: elsewhere })), /outside the data root/);
    await expectRefused(openGrabFile(options(root, { outDir: '/' })), /outside the data root/);
    await expectRefused(openGrabFile(options(root, { draftDir: 'escape' })), /outside the data root/);
    await expectRefused(openGrabFile(options(root, { outDir: 'escape/deeper/still' })), /outside the data root/);
    await expectRefused(openGrabFile(options(root, { draftDir: '' })), /non-empty/);
    expect(readdirSync(elsewhere)).toEqual([]); // nothing was created out there
    expect(existsSync(join(scratch, 'x'))).toBe(false);
    expect(existsSync(join(scratch, 'b'))).toBe(false);

    // A symlink that stays inside, '..' that stays inside and a symlinked data root are fine.
    const w = await openGrabFile(options(root, { draftDir: 'alias/d', outDir: 'inside/x/../out' }));
    expect(w.draftPath.startsWith(join(root, 'inside', 'd'))).toBe(true);
    expect(w.finalPath).toBe(join(root, 'inside', 'out', fileName));
    await w.abort();
    symlinkSync(root, join(scratch, `link-to-root${n}`));
    const v = await openGrabFile(options(join(scratch, `link-to-root${n}`), { outDir: join(scratch, `link-to-root${n}`, 'o') }));
    expect((await v.finish()).path).toBe(join(root, 'o', fileName));

    await expectRefused(openGrabFile({ ...options(root), window: { start: window.stop, stop: window.start } }), /must be after/);
  });

  it('stores names with ":", "/", "%" and a lone "." under reversible link names', async () => {
    const root = freshRoot();
    const w = await openGrabFile(options(root));
    const names = ['B:VIMIN', 'G:OUTTMP', 'M:A/B', '/lead', 'x/../y', '50%', '.', '..'];
    names.forEach((name, i) => w.appendSamples(name, f64([i, i + 1]), f64([i * 10, Number.NaN]), `u${i}`));
    const result = await w.finish();
    withFile(result.path, (file) => {
      const keys = file.keys();
      expect(keys.map(unescapeParameterName).sort()).toEqual([...names].sort());
      expect(keys).toContain('M:A%2FB');
      expect(keys).toContain('%2E');
      for (const key of keys) {
        const name = unescapeParameterName(key);
        const i = names.indexOf(name);
        expect(attr(file, `/${key}`, 'parameter')).toBe(name);
        expectSame(read(file, `/${key}/utc_seconds`), f64([i, i + 1]));
        expectSame(read(file, `/${key}/value`), f64([i * 10, Number.NaN]));
        expect(attr(file, `/${key}/value`, 'units')).toBe(`u${i}`);
      }
    });
  });

  it('refuses bad samples before writing anything and stays usable', async () => {
    const root = freshRoot();
    const w = await openGrabFile(options(root));
    w.appendSamples('B:VIMIN', f64([1]), f64([1]), 'A');
    const refuses = (f: () => void, message: RegExp): void => {
      try {
        f();
        expect.fail('expected a refusal');
      } catch (e) {
        expect(isDaqflowError(e) && e.code === 'VALIDATION_FAILED', String(e)).toBe(true);
        expect((e as Error).message).toMatch(message);
      }
    };
    refuses(() => w.appendSamples('B:VIMIN', f64([2, 3]), f64([2])), /2 times but 1 values/);
    refuses(() => w.appendSamples('B:VIMIN', f64([Number.NaN]), f64([2])), /finite/);
    refuses(() => w.appendSamples('B:VIMIN', f64([2]), f64([2]), 'mA'), /units "mA" differ/);
    refuses(() => w.appendSamples('', f64([2]), f64([2])), /empty/);
    refuses(() => w.appendSamples('X', [1] as unknown as Float64Array, f64([2])), /Float64Array/);
    w.appendSamples('B:VIMIN', f64([2]), f64([2]), 'A');
    w.appendSamples('B:VIMIN', f64([3]), f64([3]));
    const result = await w.finish();
    expect(result).toMatchObject({ parameters: 1, samples: 3 });
    withFile(result.path, (file) => expectSame(read(file, '/B:VIMIN/value'), f64([1, 2, 3])));
  });
});

describe('publishDraft', () => {
  it('copies across file systems (EXDEV) through a hidden partial file, then removes the draft', async () => {
    const dir = mkdtempSync(join(scratch, 'exdev-'));
    mkdirSync(join(dir, 'out'));
    const draft = join(dir, '.f.h5.draft');
    writeFileSync(draft, 'complete');
    const renames: string[] = [];
    await publishDraft(draft, join(dir, 'out', 'f.h5'), {
      rename: (from, to) => {
        renames.push(`${from} -> ${to}`);
        return Promise.reject(Object.assign(new Error('cross-device link not permitted'), { code: 'EXDEV' }));
      },
    });
    expect(renames).toHaveLength(1);
    expect(readdirSync(join(dir, 'out'))).toEqual(['f.h5']);
    expect(existsSync(draft)).toBe(false);
  });

  it('moves a draft between two real file systems when the machine has them (/dev/shm)', async (ctx) => {
    const shm = '/dev/shm';
    if (!existsSync(shm) || statSync(shm).dev === statSync(scratch).dev) ctx.skip();
    const from = mkdtempSync(join(shm, 'daqflow-hdf5-'));
    try {
      const draft = join(from, '.g.h5.draft');
      writeFileSync(draft, 'x'.repeat(100_000));
      await publishDraft(draft, join(scratch, 'g.h5'));
      expect(statSync(join(scratch, 'g.h5')).size).toBe(100_000);
      expect(readdirSync(from)).toEqual([]);
    } finally {
      rmSync(from, { recursive: true, force: true });
    }
  });

  it('keeps the draft when the copy fails', async () => {
    const dir = mkdtempSync(join(scratch, 'exdev-'));
    const draft = join(dir, '.f.h5.draft');
    writeFileSync(draft, 'complete');
    const exdev = (): Promise<void> => Promise.reject(Object.assign(new Error('EXDEV'), { code: 'EXDEV' }));
    await expect(publishDraft(draft, join(dir, 'missing-folder', 'f.h5'), { rename: exdev })).rejects.toThrow();
    expect(existsSync(draft)).toBe(true);
  });
});

describe('a day of 100 parameters at 1 Hz', () => {
  it('streams in chunks of 3,600 samples with bounded memory (measured, not asserted)', async () => {
    const root = freshRoot();
    const parameters = 100;
    const perHour = 3_600;
    const hours = 24;
    const module = (await h5wasm.ready) as unknown as { HEAPU8?: Uint8Array };
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const started = performance.now();
    const w = await openGrabFile(options(root));
    const times = new Float64Array(perHour);
    const values = new Float64Array(perHour);
    for (let h = 0; h < hours; h++) {
      for (let p = 0; p < parameters; p++) {
        for (let i = 0; i < perHour; i++) {
          times[i] = 1710374400 + h * perHour + i;
          values[i] = i % 1000 === 0 ? Number.NaN : p + i / perHour;
        }
        w.appendSamples(`B:P${p}`, times, values, 'V');
      }
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }
    const result = await w.finish();
    const seconds = (performance.now() - started) / 1000;
    const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
    console.log(
      `grab file: ${result.samples.toLocaleString('en')} samples of ${parameters} parameters in ${seconds.toFixed(2)} s = ` +
        `${Math.round(result.samples / seconds).toLocaleString('en')} samples/s; file ${mib(result.bytes)}; ` +
        `RSS before ${mib(rssBefore)}, peak while writing ${mib(rssPeak)} (+${mib(rssPeak - rssBefore)}), ` +
        `process maxRSS ${mib(process.resourceUsage().maxRSS * 1024)}; wasm heap ${mib(module.HEAPU8?.length ?? 0)}`,
    );

    expect(result).toMatchObject({ parameters, samples: parameters * perHour * hours });
    withFile(result.path, (file) => {
      const t = read(file, '/B:P99/utc_seconds');
      expect(t.length).toBe(perHour * hours);
      expect(t[0]).toBe(1710374400);
      expect(t[t.length - 1]).toBe(1710374400 + perHour * hours - 1);
      expect(Number.isNaN(read(file, '/B:P99/value')[3_600 * 5])).toBe(true);
    });
    rmSync(result.path);
  });
});
