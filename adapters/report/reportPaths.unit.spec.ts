import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { instrumentPagePath, plotBasePath, slugOf } from './reportPaths.js';

describe('report paths', () => {
  it('keeps names that are safe in a file name and a URL', () => {
    for (const name of ['SPB', 'FXE_DET', 'AGIPD1M-1', 'b2']) expect(slugOf(name)).toBe(name);
  });

  it('cleans every other name and tells apart names that clean the same', () => {
    const a = slugOf('SARFE10-PBPG050:PHOTON-ENERGY');
    const b = slugOf('SARFE10-PBPG050/PHOTON-ENERGY');
    expect(a).toMatch(/^SARFE10-PBPG050-PHOTON-ENERGY-[0-9a-f]{8}$/);
    expect(a).not.toBe(b);
    expect(slugOf('..')).toMatch(/^[0-9a-f]{8}$/);
    expect(slugOf('')).toMatch(/^[0-9a-f]{8}$/);
    expect(slugOf('<script>')).toMatch(/^script-[0-9a-f]{8}$/);
  });

  it('gives a slug that is one path segment, needs no URL escaping and is the same every time', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (name) => {
        const slug = slugOf(name);
        expect(slug).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]*$/);
        expect(slug.length).toBeLessThanOrEqual(64);
        expect(encodeURIComponent(slug)).toBe(slug);
        expect(slugOf(name)).toBe(slug);
      }),
    );
  });

  it('puts pages and plots in one folder per instrument', () => {
    expect(instrumentPagePath('SPB')).toBe('SPB/index.html');
    expect(plotBasePath('SPB', 'AGIPD', 'B:VIMIN')).toBe(`SPB/plots/AGIPD/${slugOf('B:VIMIN')}`);
  });
});
