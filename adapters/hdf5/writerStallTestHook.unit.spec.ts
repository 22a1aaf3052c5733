import { describe, expect, it } from 'vitest';
import { isDaqflowError } from '../../events/errors.js';
import { WRITER_STALL_ENV, writerStallTestHook } from './writerStallTestHook.js';

describe('the writer stall test hook', () => {
  it('is off unless set, and takes whole milliseconds', () => {
    expect(writerStallTestHook({})).toBeUndefined();
    expect(writerStallTestHook({ [WRITER_STALL_ENV]: '' })).toBeUndefined();
    expect(writerStallTestHook({ [WRITER_STALL_ENV]: '3000' })).toBe(3_000);
  });

  it('refuses anything else with a structured error naming the variable', () => {
    for (const bad of ['0', '-5', '1.5', '3s', ' 10']) {
      let caught: unknown;
      try {
        writerStallTestHook({ [WRITER_STALL_ENV]: bad });
      } catch (e) {
        caught = e;
      }
      expect(isDaqflowError(caught) && caught.code, bad).toBe('VALIDATION_FAILED');
      expect((caught as Error).message).toMatch(/DAQFLOW_TEST_WRITER_STALL_MS/);
    }
  });
});
