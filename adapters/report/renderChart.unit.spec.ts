import { describe, expect, it } from 'vitest';
import { stableDefIds } from './renderChart.js';

describe('stable SVG definition ids', () => {
  it('renumbers clip paths and gradients by first appearance, references included', () => {
    const svg =
      '<g clip-path="url(#clip17)"/><g clip-path="url(#clip9)"/><path fill="url(#gradient_4)"/>' +
      '<defs><clipPath id="clip9"/><clipPath id="clip17"/><linearGradient id="gradient_4"/><pattern id="p_gradient_4"/></defs>' +
      '<text>clip17 stays text</text>';
    expect(stableDefIds(svg)).toBe(
      '<g clip-path="url(#clip1)"/><g clip-path="url(#clip2)"/><path fill="url(#gradient_3)"/>' +
        '<defs><clipPath id="clip2"/><clipPath id="clip1"/><linearGradient id="gradient_3"/><pattern id="p_gradient_4"/></defs>' +
        '<text>clip17 stays text</text>',
    );
  });

  it('gives the same text for two drawings that differ only in counters', () => {
    const draw = (n: number) => `<g clip-path="url(#clip${n})"/><defs><clipPath id="clip${n}"/></defs>`;
    expect(stableDefIds(draw(3))).toBe(stableDefIds(draw(1200)));
  });
});
