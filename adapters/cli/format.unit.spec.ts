import { afterEach, describe, expect, it } from 'vitest';
import { lostPulsesText, red } from './format.js';

describe('lost pulses on the command line', () => {
  const noColor = process.env.NO_COLOR;
  afterEach(() => {
    if (noColor === undefined) delete process.env.NO_COLOR;
    else process.env.NO_COLOR = noColor;
  });

  it('names the count and the ranges, a single pulse as itself, and how many more there are', () => {
    const ranges = [{ from: 10, to: 19 }, { from: 30, to: 30 }, { from: 40, to: 41 }];
    expect(lostPulsesText({ from: 10, to: 41, count: 13, ranges })).toBe('13 lost (10..19, 30, 40..41)');
    expect(lostPulsesText({ from: 10, to: 41, count: 13, ranges }, 2)).toBe('13 lost (10..19, 30, 1 more)');
    // A failure's stretch has no count.
    expect(lostPulsesText({ from: 5, to: 9 })).toBe('lost 5..9');
  });

  it('is red on a terminal only, and not with NO_COLOR', () => {
    delete process.env.NO_COLOR;
    expect(red('3 lost', true)).toBe('\u001b[31m3 lost\u001b[39m');
    expect(red('3 lost', false)).toBe('3 lost');
    process.env.NO_COLOR = '1';
    expect(red('3 lost', true)).toBe('3 lost');
  });
});
