import { describe, expect, it } from 'vitest';
import { withDefaults } from './bsreadEncoder.js';
import { bsreadTypes, elementSize, hdf5ShapeOf } from './bsreadMessage.js';
import {
  defaultSimulatedChannels,
  expectedTimestamp,
  expectedValue,
  isLargeValue,
  isMissing,
  LARGE_VALUE_VARIANTS,
} from './bsreadSimulator.js';

describe('simulated values', () => {
  it('are a pure function of channel name, type, shape and pulse id', () => {
    for (const type of bsreadTypes) {
      const c = { name: 'X', type, shape: [7] };
      expect(expectedValue(c, 12)).toEqual(expectedValue({ ...c }, 12));
      expect(expectedValue(c, 12)).not.toEqual(expectedValue(c, 13));
      expect(expectedValue(c, 12)).not.toEqual(expectedValue({ ...c, name: 'Y' }, 12));
      if (type !== 'string') expect(expectedValue(c, 12).length).toBe(7 * elementSize(type));
    }
  });

  it('cover the range of integers, stay exact in float32, and make bools 0 or 1', () => {
    const ints = new BigInt64Array(expectedValue({ name: 'I', type: 'int64', shape: [1000] }, 1).buffer);
    expect(ints.some((v) => v < 0n)).toBe(true);
    expect(ints.some((v) => v > 2n ** 53n)).toBe(true);
    const floats = new Float64Array(expectedValue({ name: 'F', type: 'float64', shape: [1000] }, 1).buffer);
    expect(floats.every((v) => Math.fround(v) === v && Math.abs(v) <= 125 && Number.isInteger(v * 8))).toBe(true);
    expect(new Set(expectedValue({ name: 'B', type: 'bool', shape: [100] }, 1))).toEqual(new Set([0, 1]));
    expect(new TextDecoder().decode(expectedValue({ name: 'S', type: 'string', shape: [1] }, 77))).toBe('S #77 µ');
  });

  it('cycle through 16 buffers for values over 64 KiB, as 12-bit detector data', () => {
    const image = { name: 'CAM', type: 'uint16' as const, shape: [640, 480] };
    expect(isLargeValue(image)).toBe(true);
    expect(isLargeValue({ name: 'W', type: 'float64', shape: [8192] })).toBe(false);
    expect(expectedValue(image, 3)).toEqual(expectedValue(image, 3 + LARGE_VALUE_VARIANTS));
    expect(expectedValue(image, 3)).not.toEqual(expectedValue(image, 4));
    const pixels = new Uint16Array(expectedValue(image, 3).buffer);
    expect(Math.max(...pixels.subarray(0, 10_000))).toBeLessThan(4096);
  });
});

describe('the simulator pattern', () => {
  it('leaves channel i without value in pulse p when (p + i) % n === 0', () => {
    expect(isMissing(0, 14, 7)).toBe(true);
    expect(isMissing(3, 11, 7)).toBe(true);
    expect(isMissing(3, 12, 7)).toBe(false);
    expect(isMissing(0, 14, undefined)).toBe(false);
  });

  it('stamps pulses at 100 Hz', () => {
    expect(expectedTimestamp(0)).toEqual({ sec: 1_700_000_000, ns: 0 });
    expect(expectedTimestamp(12_345)).toEqual({ sec: 1_700_000_123, ns: 450_000_000 });
  });

  it('has every scalar type, waveforms, a 2-D array and an image by default, shapes on the wire reversed', () => {
    const channels = defaultSimulatedChannels({ imageWidth: 1280, imageHeight: 1024 }).map(withDefaults);
    expect(new Set(channels.map((c) => c.type))).toEqual(new Set(bsreadTypes));
    expect(hdf5ShapeOf(channels.find((c) => c.name === 'SIM:CAMERA:FPICTURE')!)).toEqual([1024, 1280]);
    expect(hdf5ShapeOf(channels.find((c) => c.name === 'SIM:ARRAY:INT16')!)).toEqual([2, 3]);
  });
});
