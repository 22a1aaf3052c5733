import { describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import { createPureTransitions } from '../runtime/pureTransition.js';
import type { GrabRequested, GrabRunEvent } from './grabRun.events.js';
import { grabRunMachine, retryDelayMs, type GrabRunContext } from './grabRun.machine.js';
import { grabRunActor } from './grabRun.actor.js';

const requested = (over: Partial<GrabRequested> = {}): GrabRequested => ({
  mode: 'parameters',
  parameters: ['A', 'B'],
  start: '2026-11-21T00:00:00.000Z',
  stop: '2026-11-21T03:00:00.000Z',
  chunkSeconds: 3_600,
  draftDir: '/data/drafts',
  outDir: '/data/out',
  source: 'simulator',
  retry: { maxAttempts: 3, initialDelayMs: 1_000, maxDelayMs: 1_500 },
  firstOnly: false,
  scheduleId: null,
  ...over,
});

const stats = {
  count: 0, nanCount: 0, min: null, max: null, mean: null, std: null, mode: null, firstTime: null, lastTime: null,
  interval: { count: 0, nanCount: 0, min: null, max: null, mean: null, std: null, mode: null },
};

const written = (index: number, parameter: string, samples = 10): GrabRunEvent['data'] => ({
  index, parameter, from: '', to: '', samples, bytes: samples * 16, units: null, missing: false, statistics: { ...stats, count: samples },
});

/** Folds events from the start, returning every step's snapshot and requested actions. */
const run = (events: Array<{ type: GrabRunEvent['type']; data: unknown; time?: string }>) => {
  const pure = createPureTransitions(grabRunMachine, { id: 'g1' });
  let [snapshot] = pure.initial();
  const steps: Array<{ snapshot: AnyMachineSnapshot; actions: Array<{ type: string; params?: unknown }> }> = [];
  for (const [i, e] of events.entries()) {
    const event = { type: e.type, data: e.data, time: e.time ?? new Date(Date.UTC(2026, 10, 22, 1, 0, i)).toISOString() };
    const can = snapshot.can(event);
    if (!can) throw new Error(`event ${i} ${e.type} not accepted in ${JSON.stringify(snapshot.value)}`);
    const [next, actions] = pure.next(snapshot, event);
    snapshot = next;
    steps.push({ snapshot, actions });
  }
  return { snapshot, steps, context: snapshot.context as GrabRunContext };
};

describe('grab-run machine', () => {
  it('fetches chunks parameter by parameter, slice by slice, then assembles', () => {
    const { steps, context, snapshot } = run([
      { type: 'requested', data: requested() },
      ...[0, 1, 2].map((i) => ({ type: 'chunkWritten' as const, data: written(i, 'A') })),
      ...[3, 4, 5].map((i) => ({ type: 'chunkWritten' as const, data: written(i, 'B') })),
    ]);
    expect(snapshot.value).toBe('assembling');
    expect(context.chunks).toBe(6);
    const fetches = steps.flatMap((s) => s.actions).filter((a) => a.type === 'fetchChunk').map((a) => a.params);
    expect(fetches).toEqual(
      [0, 1, 2, 3, 4, 5].map((index) => ({
        mode: 'parameters',
        index,
        attempt: 1,
        parameter: index < 3 ? 'A' : 'B',
        from: new Date(Date.UTC(2026, 10, 21, index % 3)).toISOString(),
        to: new Date(Date.UTC(2026, 10, 21, (index % 3) + 1)).toISOString(),
        draftDir: '/data/drafts',
      })),
    );
    const assemble = steps.at(-1)?.actions.find((a) => a.type === 'assemble');
    expect(assemble?.params).toMatchObject({ chunks: 6, slices: 3, parameters: ['A', 'B'], outDir: '/data/out' });
    expect(context.samples).toBe(60);
    expect(grabRunActor.summary(snapshot as never)).toMatchObject({ progress: { chunksDone: 6, chunksTotal: 6, samples: 60, bytes: 960 } });
  });

  it('cuts the last slice short at the window stop', () => {
    const { steps } = run([{ type: 'requested', data: requested({ parameters: ['A'], stop: '2026-11-21T01:30:00.000Z' }) }, { type: 'chunkWritten', data: written(0, 'A') }]);
    const last = steps[1]?.actions.find((a) => a.type === 'fetchChunk')?.params as { from: string; to: string };
    expect(last).toMatchObject({ from: '2026-11-21T01:00:00.000Z', to: '2026-11-21T01:30:00.000Z' });
  });

  it('backs off with a doubling, capped delay and fails with the reason after the last attempt', () => {
    const failed = (attempt: number) => ({
      type: 'chunkFailed' as const,
      data: { index: 0, attempt, parameter: 'A', reason: 'UNAVAILABLE', message: 'HTTP 503', retryable: true },
    });
    const { steps, snapshot, context } = run([
      { type: 'requested', data: requested() },
      failed(1),
      { type: 'retryDue', data: { index: 0, attempt: 2 } },
      failed(2),
      { type: 'retryDue', data: { index: 0, attempt: 3 } },
      failed(3),
    ]);
    const delays = [1, 3].map((i) => {
      const c = steps[i]?.snapshot.context as GrabRunContext;
      return Date.parse(c.deadlines.retry?.at ?? '') - Date.UTC(2026, 10, 22, 1, 0, i);
    });
    expect(delays).toEqual([1_000, 1_500]);
    expect(steps[2]?.actions.find((a) => a.type === 'fetchChunk')?.params).toMatchObject({ index: 0, attempt: 2 });
    expect(snapshot.value).toBe('failed');
    expect(context.error).toMatch(/gave up after 3 attempts: A .* UNAVAILABLE: HTTP 503/);
    expect(steps.at(-1)?.actions.map((a) => a.type)).toContain('discard');
    expect(retryDelayMs({ maxAttempts: 9, initialDelayMs: 100, maxDelayMs: 10_000 }, 4)).toBe(800);
  });

  it('fails at once on an error that is not retryable', () => {
    const { snapshot, context } = run([
      { type: 'requested', data: requested() },
      { type: 'chunkFailed', data: { index: 0, attempt: 1, parameter: 'A', reason: 'UNKNOWN_PARAMETER', message: 'no such PV', retryable: false } },
    ]);
    expect(snapshot.value).toBe('failed');
    expect(context.error).toMatch(/UNKNOWN_PARAMETER: no such PV/);
  });

  it('ignores results of other chunks and stale attempts', () => {
    const { snapshot } = run([{ type: 'requested', data: requested() }]);
    const pure = createPureTransitions(grabRunMachine, { id: 'g1' });
    const time = '2026-11-22T02:00:00.000Z';
    expect(snapshot.can({ type: 'chunkWritten', data: written(1, 'A'), time } as never)).toBe(false);
    expect(snapshot.can({ type: 'retryDue', data: { index: 0, attempt: 2 }, time } as never)).toBe(false);
    expect(snapshot.can({ type: 'chunkWritten', data: written(0, 'A'), time } as never)).toBe(true);
    expect(pure).toBeDefined();
  });

  it('cancels in every unfinished state and asks to discard the work folder', () => {
    for (const prefix of [
      [{ type: 'requested' as const, data: requested() }],
      [{ type: 'requested' as const, data: requested() }, { type: 'chunkFailed' as const, data: { index: 0, attempt: 1, parameter: 'A', reason: 'TIMEOUT', message: 't', retryable: true } }],
      [{ type: 'requested' as const, data: requested({ parameters: ['A'], stop: '2026-11-21T01:00:00.000Z' }) }, { type: 'chunkWritten' as const, data: written(0, 'A') }],
    ]) {
      const { steps, snapshot, context } = run([...prefix, { type: 'cancelled', data: { reason: 'operator' } }]);
      expect(snapshot.value).toBe('cancelled');
      expect(context.deadlines).toEqual({});
      expect(context.error).toBe('operator');
      expect(steps.at(-1)?.actions.map((a) => a.type)).toEqual(['discard']);
    }
  });

  it('stops an events run at the first channel with firings when firstOnly', () => {
    const { snapshot, steps } = run([
      { type: 'requested', data: requested({ mode: 'events', parameters: ['E0', 'E1', 'E2'], firstOnly: true, stop: '2026-11-21T02:00:00.000Z' }) },
      { type: 'chunkWritten', data: written(0, 'E0', 0) },
      { type: 'chunkWritten', data: written(1, 'E0', 0) },
      { type: 'chunkWritten', data: written(2, 'E1', 3) },
      { type: 'chunkWritten', data: written(3, 'E1', 0) },
    ]);
    expect(snapshot.value).toBe('assembling');
    expect(steps.at(-1)?.actions.find((a) => a.type === 'assemble')?.params).toMatchObject({ chunks: 4, slices: 2 });
  });

  it('completes on fileWritten with the output path, and recovers the effect its state waits on', () => {
    const { snapshot, context, steps } = run([
      { type: 'requested', data: requested({ parameters: ['A'], stop: '2026-11-21T01:00:00.000Z' }) },
      { type: 'chunkWritten', data: written(0, 'A') },
      { type: 'fileWritten', data: { path: '/data/out/f.h5', bytes: 5, samples: 10, windowStart: '2026-11-21T00:00:00.000Z', windowStop: '2026-11-21T01:00:00.000Z', statistics: [] } },
    ]);
    expect(snapshot.value).toBe('completed');
    expect(context.outputFile).toBe('/data/out/f.h5');
    expect(steps.at(-1)?.actions.map((a) => a.type)).toEqual(['discard']);
    const assembling = steps[1]?.snapshot;
    expect(grabRunActor.recover?.(assembling as never).map((r) => r.type)).toEqual(['assemble']);
    const fetching = steps[0]?.snapshot;
    expect(grabRunActor.recover?.(fetching as never)).toEqual([{ type: 'fetchChunk', params: expect.objectContaining({ index: 0, attempt: 1 }) }]);
  });
});
