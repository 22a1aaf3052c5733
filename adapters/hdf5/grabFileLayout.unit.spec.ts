import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isDaqflowError } from '../../events/errors.js';
import {
  compactIsoUtc,
  draftFileName,
  escapeParameterName,
  grabDatasets,
  grabFileName,
  parameterDatasetPaths,
  parameterGroupPath,
  parseCompactIsoUtc,
  parseGrabFileName,
  partialFileName,
  unescapeParameterName,
} from './grabFileLayout.js';

const validationFailed = (f: () => unknown): void => {
  try {
    f();
  } catch (e) {
    expect(isDaqflowError(e) && e.code === 'VALIDATION_FAILED').toBe(true);
    return;
  }
  expect.fail('expected a VALIDATION_FAILED error');
};

describe('parameter names', () => {
  it('keeps EPICS and ACNET names as they are', () => {
    for (const name of ['B:VIMIN', 'G:OUTTMP', 'B_VIMIN', 'I:IB[3]', 'SARFE10-PBPG050:HAMP-INTENSITY-CAL', '..', '.x', 'a b', 'Å:µ']) {
      expect(escapeParameterName(name)).toBe(name);
      expect(unescapeParameterName(name)).toBe(name);
    }
    expect(parameterGroupPath('B:VIMIN')).toBe('/B:VIMIN');
    expect(parameterDatasetPaths('G:OUTTMP')).toEqual({ time: '/G:OUTTMP/utc_seconds', value: '/G:OUTTMP/value' });
  });

  it('escapes /, %, NUL and a lone dot reversibly', () => {
    expect(escapeParameterName('a/b')).toBe('a%2Fb');
    expect(escapeParameterName('/')).toBe('%2F');
    expect(escapeParameterName('50%')).toBe('50%25');
    expect(escapeParameterName('a%2Fb')).toBe('a%252Fb');
    expect(escapeParameterName('x\0y')).toBe('x%00y');
    expect(escapeParameterName('.')).toBe('%2E');
    expect(parameterDatasetPaths('M:A/B').value).toBe('/M:A%2FB/value');
    for (const name of ['a/b', '/', '50%', 'a%2Fb', 'x\0y', '.', '%2E', '%']) {
      expect(unescapeParameterName(escapeParameterName(name))).toBe(name);
    }
  });

  it('round-trips any non-empty name, and an escaped name never holds / or is "."', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, unit: fc.constantFrom('a', 'B', ':', '/', '%', '.', '2', 'F', '\0', '_', 'é') }), (name) => {
        const escaped = escapeParameterName(name);
        expect(escaped).not.toMatch(/[/\0]/);
        expect(escaped).not.toBe('.');
        expect(escaped.length).toBeGreaterThan(0);
        expect(unescapeParameterName(escaped)).toBe(name);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses an empty name and strings no escape could produce', () => {
    validationFailed(() => escapeParameterName(''));
    for (const bad of ['', '.', 'a/b', '%', '%2', '%2E.', 'a%41']) validationFailed(() => unescapeParameterName(bad));
  });

  it('names float64 datasets utc_seconds and value', () => {
    expect(grabDatasets.time).toMatchObject({ name: 'utc_seconds', dtype: '<d' });
    expect(grabDatasets.value).toMatchObject({ name: 'value', dtype: '<d' });
  });
});

describe('file names', () => {
  const window = { start: new Date('2024-03-14T00:00:00Z'), stop: new Date('2024-03-15T00:00:00Z') };
  const created = new Date('2024-03-15T01:00:00.900Z');

  it('is MLParamData_<createdUnix>_<start>_to_<stop>.h5 in compact UTC', () => {
    const name = grabFileName(window, created);
    expect(name).toBe('MLParamData_1710464400_20240314T000000Z_to_20240315T000000Z.h5');
    expect(name).not.toMatch(/[:/ ]/);
    expect(parseGrabFileName(name)).toEqual({ createdUnix: 1710464400, window });
  });

  it('names an events grab MLEventData_…, and reads each name back only with its own prefix', () => {
    const name = grabFileName(window, created, 'MLEventData');
    expect(name).toBe('MLEventData_1710464400_20240314T000000Z_to_20240315T000000Z.h5');
    expect(parseGrabFileName(name, 'MLEventData')).toEqual({ createdUnix: 1710464400, window });
    expect(parseGrabFileName(name)).toBeUndefined();
    expect(parseGrabFileName(grabFileName(window, created), 'MLEventData')).toBeUndefined();
    expect(grabFileName(window, created, 'MLParamData')).toBe(grabFileName(window, created));
    validationFailed(() => grabFileName(window, created, '../evil' as 'MLParamData'));
  });

  it('keeps milliseconds only when there are some', () => {
    expect(compactIsoUtc(new Date('2024-03-14T12:34:56Z'))).toBe('20240314T123456Z');
    expect(compactIsoUtc(new Date('2024-03-14T12:34:56.250Z'))).toBe('20240314T123456.250Z');
    const w = { start: new Date('2024-03-14T12:34:56.250Z'), stop: new Date('2024-03-14T12:34:57.001Z') };
    expect(parseGrabFileName(grabFileName(w, created))?.window).toEqual(w);
  });

  it('round-trips compact times', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }), (d) => {
        expect(parseCompactIsoUtc(compactIsoUtc(d)).getTime()).toBe(d.getTime());
      }),
    );
  });

  it('refuses an empty or reversed window and invalid dates', () => {
    validationFailed(() => grabFileName({ start: window.stop, stop: window.start }, created));
    validationFailed(() => grabFileName({ start: window.start, stop: window.start }, created));
    validationFailed(() => grabFileName({ start: new Date('nope'), stop: window.stop }, created));
    validationFailed(() => grabFileName(window, new Date(Number.NaN)));
    validationFailed(() => parseCompactIsoUtc('20240230T000000Z'));
    expect(parseGrabFileName('MLParamData_1_From_X_2024-03-14+00:00:00_to_2024-03-15+00:00:00.h5')).toBeUndefined();
  });

  it('hides drafts and partial copies from MLParamData_*.h5 globs', () => {
    const name = grabFileName(window, created);
    expect(draftFileName(name)).toBe(`.${name}.draft`);
    expect(partialFileName(name)).toBe(`.${name}.partial`);
    for (const n of [draftFileName(name), partialFileName(name)]) expect(n).not.toMatch(/^MLParamData_.*\.h5$/);
  });
});
