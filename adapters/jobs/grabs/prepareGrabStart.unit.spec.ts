import { mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_RETRY } from '../../../actors/grabs/grabRequest.js';
import { grabRunEventSchemas } from '../../../actors/grabs/grabRun.events.js';
import { ValidationError } from '../../../events/errors.js';
import type { DataLoggerSource, ParameterDescription } from '../../dataLogger/dataLoggerSource.js';
import { DataLoggerError } from '../../dataLogger/errors.js';
import { createSimulatorSource } from '../../dataLogger/simulator.js';
import { prepareGrabStart, type PrepareGrabStartOptions } from './prepareGrabStart.js';

const scratch = realpathSync(mkdtempSync(join(tmpdir(), 'daqflow-prepare-grab-')));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;
/** A fresh, existing data root. */
const freshRoot = (): string => {
  const root = join(scratch, `root${++n}`);
  mkdirSync(root);
  return root;
};

const simulator = createSimulatorSource({ seed: 'prepare', rateHz: 1 });
// 15:30 UTC on 21 November 2026: the last midnight is 2026-11-21 00:00 in Zurich (UTC+1), 2026-11-21 in Chicago (UTC-6).
const reference = new Date('2026-11-21T15:30:00Z');
const optionsFor = (dataRoot: string, more: Partial<PrepareGrabStartOptions> = {}): PrepareGrabStartOptions => ({
  source: simulator,
  dataRoot,
  timeZone: 'Europe/Zurich',
  reference,
  ...more,
});

/** Every path under a folder, so a test can tell that nothing was created. */
const tree = (dir: string): string[] => readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();

const refusal = async (p: Promise<unknown>): Promise<ValidationError> => {
  const e = await p.then(
    () => expect.fail('expected a ValidationError'),
    (error: unknown) => error,
  );
  expect(e, String(e)).toBeInstanceOf(ValidationError);
  expect((e as ValidationError).status).toBe(400);
  return e as ValidationError;
};

/** A source that counts describe calls in flight, answering after a tick. */
const countingSource = (inner: DataLoggerSource): DataLoggerSource & { calls: string[]; maxInFlight: number } => {
  let inFlight = 0;
  const self = {
    name: inner.name,
    calls: [] as string[],
    maxInFlight: 0,
    fetchSamples: inner.fetchSamples.bind(inner),
    async describe(parameter: string): Promise<ParameterDescription> {
      self.calls.push(parameter);
      inFlight++;
      self.maxInFlight = Math.max(self.maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 2));
      inFlight--;
      return inner.describe(parameter);
    },
  };
  return self;
};

describe('prepareGrabStart', () => {
  it('fills the defaults: a one-second window at the last midnight in the zone, folders in the data root, creating nothing', async () => {
    const root = freshRoot();
    const requested = await prepareGrabStart({ parameters: ['SIM:SINE', 'SIM:RAMP', 'SIM:SINE'] }, optionsFor(root));
    expect(requested).toEqual({
      mode: 'parameters',
      parameters: ['SIM:SINE', 'SIM:RAMP'],
      start: '2026-11-20T22:59:59.000Z',
      stop: '2026-11-20T23:00:00.000Z',
      chunkSeconds: 21_600,
      draftDir: join(root, 'drafts'),
      outDir: root,
      source: simulator.name,
      retry: DEFAULT_RETRY,
      firstOnly: false,
      scheduleId: null,
    });
    expect(grabRunEventSchemas.requested.schema.parse(requested)).toEqual(requested);
    expect(tree(root)).toEqual([]);

    const chicago = await prepareGrabStart({ parameters: ['SIM:SINE'] }, optionsFor(root, { timeZone: 'America/Chicago' }));
    expect([chicago.start, chicago.stop]).toEqual(['2026-11-21T05:59:59.000Z', '2026-11-21T06:00:00.000Z']);
  });

  it('takes what is given: window, chunk length, partial retry policy, relative folders, the schedule', async () => {
    const root = freshRoot();
    const requested = await prepareGrabStart(
      {
        parameters: ['SIM:CONST'],
        stopAt: '2026-11-20 12:00:00',
        window: { hours: 2, minutes: 30 },
        chunkSeconds: 600,
        retry: { maxAttempts: 2 },
        outDir: 'grabs/daily',
        draftDir: join(root, 'work'),
      },
      optionsFor(root, { scheduleId: 'nightly' }),
    );
    expect(requested).toMatchObject({
      start: '2026-11-20T08:30:00.000Z',
      stop: '2026-11-20T11:00:00.000Z',
      chunkSeconds: 600,
      retry: { ...DEFAULT_RETRY, maxAttempts: 2 },
      outDir: join(root, 'grabs', 'daily'),
      draftDir: join(root, 'work'),
      scheduleId: 'nightly',
    });
    expect(tree(root)).toEqual([]);
  });

  it('accepts a data root that does not exist yet, without creating it', async () => {
    const root = join(freshRoot(), 'not', 'yet');
    const requested = await prepareGrabStart({ parameters: ['SIM:SINE'] }, optionsFor(root));
    expect(requested.outDir).toBe(root);
    expect(requested.draftDir).toBe(join(root, 'drafts'));
    expect(tree(join(root, '..', '..'))).toEqual([]);
  });

  it('refuses unknown parameters in one error that lists them all, asking the source at most 8 at a time', async () => {
    const root = freshRoot();
    const source = countingSource(simulator);
    const parameters = ['SIM:SINE', 'NO:ONE', ...simulator.parameters, 'NO:TWO'];
    const e = await refusal(prepareGrabStart({ parameters }, optionsFor(root, { source })));
    expect(e.message).toBe(`unknown parameter(s) in ${simulator.name}: NO:ONE, NO:TWO`);
    expect(e.details.issues).toEqual([
      expect.objectContaining({ path: ['parameters', '1'], parameter: 'NO:ONE' }),
      expect.objectContaining({ path: ['parameters', String(parameters.length - 1)], parameter: 'NO:TWO' }),
    ]);
    expect([...source.calls].sort()).toEqual([...new Set(parameters)].sort());
    expect(source.maxInFlight).toBeGreaterThan(1);
    expect(source.maxInFlight).toBeLessThanOrEqual(8);
    expect(tree(root)).toEqual([]);
  });

  it('rethrows the source error when the data logger cannot be reached (not a 400)', async () => {
    const unreachable: DataLoggerSource = {
      name: 'archiver appliance http://127.0.0.1:1/retrieval',
      fetchSamples: simulator.fetchSamples.bind(simulator),
      describe: () => Promise.reject(new DataLoggerError('UNAVAILABLE', 'connection refused', { parameter: 'X' })),
    };
    const e = await prepareGrabStart({ parameters: ['A', 'B'] }, optionsFor(freshRoot(), { source: unreachable })).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DataLoggerError);
    expect(e).toMatchObject({ code: 'STORE_UNAVAILABLE', reason: 'UNAVAILABLE', status: 503 });
  });

  it('refuses an inverted window, a ten-year window, and a malformed body, naming the fields', async () => {
    const root = freshRoot();
    const inverted = await refusal(
      prepareGrabStart({ parameters: ['SIM:SINE'], startAt: '2026-11-20 12:00:00', stopAt: '2026-11-20 11:00:00' }, optionsFor(root)),
    );
    expect(inverted.message).toMatch(/^startAt: the window is inverted/);
    const long = await refusal(prepareGrabStart({ parameters: ['SIM:SINE'], window: { days: 3650 } }, optionsFor(root)));
    expect(long.message).toMatch(/^window: the window is 3650\.0 days long/);
    const bad = await refusal(prepareGrabStart({ parameters: 'SIM:SINE', chunkSeconds: 0, colour: 'red' }, optionsFor(root)));
    expect(bad.message).toMatch(/parameters/);
    expect(bad.message).toMatch(/chunkSeconds/);
    expect(bad.message).toMatch(/colour/);
    expect((await refusal(prepareGrabStart({}, optionsFor(root)))).message).toMatch(/^parameters: parameters mode needs/);
    expect((await refusal(prepareGrabStart({ parameters: [] }, optionsFor(root)))).message).toMatch(/^parameters:/);
    expect((await refusal(prepareGrabStart({ parameters: ['SIM:SINE'], maxEvt: 3 }, optionsFor(root)))).message).toMatch(/^maxEvt/);
    // 6 parameters x 366 days in 60 s chunks: 3.2 million chunks.
    const many = await refusal(
      prepareGrabStart({ parameters: ['SIM:SINE', 'SIM:RAMP', 'SIM:NOISE', 'SIM:STEP', 'SIM:CONST', 'SIM:NANS'], window: { days: 366 }, chunkSeconds: 60 }, optionsFor(root)),
    );
    expect(many.message).toMatch(/^chunkSeconds: 6 parameters .* make 3162240 chunks; at most 200000/);
    expect(tree(root)).toEqual([]);
  });

  it('refuses folders outside the data root: .., an absolute path elsewhere, a symlink out; and creates nothing', async () => {
    const root = freshRoot();
    const elsewhere = mkdtempSync(join(scratch, 'elsewhere-'));
    symlinkSync(elsewhere, join(root, 'escape'));
    const before = { root: tree(root), elsewhere: tree(elsewhere), scratch: readdirSync(scratch).sort() };
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ outDir: '../x' }, /^outDir "\.\.\/x" resolves to .* outside the data root/],
      [{ outDir: elsewhere }, /^outDir .* outside the data root/],
      [{ outDir: '/' }, /^outDir .* outside the data root/],
      [{ outDir: 'escape' }, /^outDir "escape" resolves to .*elsewhere-.* outside the data root/],
      [{ outDir: 'escape/deeper/still' }, /^outDir .* outside the data root/],
      [{ draftDir: '..' }, /^draftDir .* outside the data root/],
      [{ draftDir: join(root, 'a', '..', '..', 'b') }, /^draftDir .* outside the data root/],
      [{ draftDir: 'escape/drafts' }, /^draftDir .* outside the data root/],
    ];
    for (const [dirs, message] of cases) {
      const e = await refusal(prepareGrabStart({ parameters: ['SIM:SINE'], ...dirs }, optionsFor(root)));
      expect(e.message, JSON.stringify(dirs)).toMatch(message);
    }
    expect({ root: tree(root), elsewhere: tree(elsewhere), scratch: readdirSync(scratch).sort() }).toEqual(before);

    // '..' that stays inside is fine, and a symlinked data root gives the real folders.
    mkdirSync(join(root, 'inside'));
    const ok = await prepareGrabStart({ parameters: ['SIM:SINE'], outDir: 'inside/x/../out' }, optionsFor(root));
    expect(ok.outDir).toBe(join(root, 'inside', 'out'));
    const link = join(scratch, `link-to-root${n}`);
    symlinkSync(root, link);
    const viaLink = await prepareGrabStart({ parameters: ['SIM:SINE'], outDir: join(link, 'o') }, optionsFor(link));
    expect(viaLink.outDir).toBe(join(root, 'o'));
    expect(viaLink.draftDir).toBe(join(root, 'drafts'));
  });

  it('events mode: the channels of codes 0..maxEvt, without asking the source', async () => {
    const root = freshRoot();
    const source = countingSource(simulator);
    const all = await prepareGrabStart({ mode: 'events', firstOnly: true }, optionsFor(root, { source }));
    expect(all.parameters).toHaveLength(256);
    expect(all.parameters.slice(0, 3)).toEqual(['EVENT:00', 'EVENT:01', 'EVENT:02']);
    expect(all.parameters.at(-1)).toBe('EVENT:FF');
    expect(all).toMatchObject({ mode: 'events', firstOnly: true, source: simulator.name });
    const some = await prepareGrabStart({ mode: 'events', eventChannel: 'EVR:{hex}:CNT', maxEvt: 0x0b }, optionsFor(root, { source }));
    expect(some.parameters).toEqual(Array.from({ length: 12 }, (_, i) => `EVR:${i.toString(16).toUpperCase().padStart(2, '0')}:CNT`));
    expect(source.calls).toEqual([]);
    expect((await refusal(prepareGrabStart({ mode: 'events', parameters: ['X'] }, optionsFor(root)))).message).toMatch(/^parameters:/);
    expect((await refusal(prepareGrabStart({ mode: 'events', eventChannel: 'EVR' }, optionsFor(root)))).message).toMatch(/eventChannel/);
  });
});
