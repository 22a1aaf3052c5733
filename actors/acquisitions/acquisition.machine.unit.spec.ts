import { describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import { createPureTransitions } from '../runtime/pureTransition.js';
import { acquisitionActor } from './acquisition.actor.js';
import type { AcquisitionEvent } from './acquisition.events.js';
import { acquisitionMachine } from './acquisition.machine.js';

const request = {
  outputFile: '/data/run1.h5',
  startPulseId: 1_000,
  stopPulseId: null,
  channels: null,
  general: { instrument: 'alvra', process: 'test', user: 'daq' },
};
const progress = (lastPulseId: number, pulsesWritten: number) => ({
  lastPulseId,
  pulsesWritten,
  missingPulses: 2,
  bytesWritten: pulsesWritten * 100,
  ratePerSecond: 100,
  lagPulses: 3,
});

const run = (events: Array<{ type: AcquisitionEvent['type']; data: unknown }>) => {
  const pure = createPureTransitions(acquisitionMachine, { id: 'a1' });
  let [snapshot] = pure.initial();
  const steps: Array<{ snapshot: AnyMachineSnapshot; actions: Array<{ type: string; params?: unknown }> }> = [];
  for (const [i, e] of events.entries()) {
    const event = { ...e, time: new Date(Date.UTC(2026, 10, 22, 6, 0, i)).toISOString() };
    if (!snapshot.can(event)) throw new Error(`event ${i} ${e.type} refused in ${JSON.stringify(snapshot.value)}`);
    const [next, actions] = pure.next(snapshot, event);
    snapshot = next;
    steps.push({ snapshot, actions: actions.map((a) => ({ type: a.type, params: a.params })) });
  }
  return { snapshot, steps };
};

describe('acquisition machine', () => {
  it('keeps the pulses lost while writing (from progress, then the finished event) and completes with them', () => {
    const early = { count: 30, ranges: [{ from: 1_010, to: 1_039 }] };
    const all = { count: 45, ranges: [{ from: 1_010, to: 1_039 }, { from: 1_100, to: 1_114 }] };
    const { snapshot, steps } = run([
      { type: 'requested', data: { ...request, onLoss: 'record' } },
      { type: 'started', data: { firstPulseId: 1_000 } },
      { type: 'progress', data: { ...progress(1_060, 30), lostPulses: early } },
      { type: 'progress', data: progress(1_070, 40) },
      { type: 'finished', data: { ...progress(1_199, 155), lostPulses: all, path: '/data/run1.h5', firstPulseId: 1_000 } },
    ]);
    const summaries = steps.map((s) => acquisitionActor.summary(s.snapshot as never) as { lostPulses?: unknown });
    expect(summaries[2]?.lostPulses).toEqual({ from: 1_010, to: 1_039, ...early });
    // A progress without a loss keeps the one recorded.
    expect(summaries[3]?.lostPulses).toEqual({ from: 1_010, to: 1_039, ...early });
    expect(snapshot.value).toBe('completed');
    expect(acquisitionActor.summary(snapshot as never)).toMatchObject({ lostPulses: { from: 1_010, to: 1_114, ...all }, pulsesWritten: 155 });
    expect(acquisitionActor.summary(snapshot as never)).not.toHaveProperty('error');
  });

  it('waits for the start pulse, writes, takes a stop to the writer, and completes with the counters', () => {
    const { snapshot, steps } = run([
      { type: 'requested', data: request },
      { type: 'started', data: { firstPulseId: 1_000 } },
      { type: 'progress', data: progress(1_099, 98) },
      { type: 'stopRequested', data: { stopPulseId: 1_199, now: false } },
      { type: 'finished', data: { ...progress(1_199, 198), path: '/data/run1.h5', firstPulseId: 1_000 } },
    ]);
    expect(steps.map((s) => s.snapshot.value)).toEqual(['waiting', 'writing', 'writing', 'writing', 'completed']);
    expect(steps[0]?.actions).toEqual([{ type: 'acquire', params: { request, resumeFirstPulseId: null, stop: null } }]);
    expect(steps[3]?.actions.find((a) => a.type === 'setStop')?.params).toEqual({ stopPulseId: 1_199, now: false });
    expect(acquisitionActor.summary(snapshot as never)).toMatchObject({
      outputFile: '/data/run1.h5',
      startPulseId: 1_000,
      stopPulseId: 1_199,
      firstPulseId: 1_000,
      lastPulseId: 1_199,
      pulsesWritten: 198,
      missingPulses: 2,
      bytesWritten: 19_800,
    });
  });

  it('refuses a stop before the first pulse, and a start command whose stop is before its start', () => {
    const { snapshot } = run([
      { type: 'requested', data: request },
      { type: 'started', data: { firstPulseId: 1_000 } },
    ]);
    expect(snapshot.can({ type: 'stopRequested', data: { stopPulseId: 999, now: false }, time: '2026-11-22T07:00:00Z' } as never)).toBe(false);
    expect(snapshot.can({ type: 'stopRequested', data: { stopPulseId: null, now: true }, time: '2026-11-22T07:00:00Z' } as never)).toBe(true);
    const start = acquisitionActor.commands.start!;
    expect(start.schema.safeParse({ ...request, stopPulseId: 10 }).success).toBe(false);
    expect(acquisitionActor.commands.stop!.schema.safeParse({}).success).toBe(false);
    expect(acquisitionActor.commands.stop!.schema.safeParse({ stopPulseId: 5, now: true }).success).toBe(false);
  });

  it('kills through the writer, ends killed with the file it closed, and fails naming lost pulses and the draft', () => {
    const killed = run([
      { type: 'requested', data: request },
      { type: 'started', data: { firstPulseId: 1_000 } },
      { type: 'killRequested', data: { reason: 'operator' } },
      { type: 'killed', data: { ...progress(1_050, 51), path: '/data/run1.h5', firstPulseId: 1_000 } },
    ]);
    expect(killed.steps[2]?.actions).toEqual([{ type: 'kill', params: { reason: 'operator' } }]);
    expect(killed.snapshot.value).toBe('killed');
    const failed = run([
      { type: 'requested', data: request },
      { type: 'started', data: { firstPulseId: 1_000 } },
      {
        type: 'acquisitionFailed',
        data: { reason: 'PULSES_LOST', message: 'restart: pulses 1051-1300 left the buffer', draftPath: '/data/.run1.h5.draft', lostPulses: { from: 1_051, to: 1_300 } },
      },
    ]);
    expect(failed.snapshot.value).toBe('failed');
    expect(acquisitionActor.summary(failed.snapshot as never)).toMatchObject({
      draftPath: '/data/.run1.h5.draft',
      lostPulses: { from: 1_051, to: 1_300 },
      error: 'PULSES_LOST: restart: pulses 1051-1300 left the buffer',
    });
  });

  it('after a restart re-issues the writer with what it had recorded, or the kill', () => {
    const writing = run([
      { type: 'requested', data: request },
      { type: 'started', data: { firstPulseId: 1_000 } },
      { type: 'stopRequested', data: { stopPulseId: null, now: true } },
    ]).snapshot;
    expect(acquisitionActor.recover?.(writing as never)).toEqual([
      { type: 'acquire', params: { request, resumeFirstPulseId: 1_000, stop: { stopPulseId: null, now: true } } },
    ]);
    const killing = run([{ type: 'requested', data: request }, { type: 'killRequested', data: { reason: '' } }]).snapshot;
    expect(acquisitionActor.recover?.(killing as never)).toEqual([{ type: 'kill', params: { reason: 'recovered after a restart', draftPath: null } }]);
  });

  it('records the node asked for and each writer: the first, and one that took it over and rewrote the draft', () => {
    const stream = { address: 'tcp://sender:9999', mode: 'sub' as const };
    const { snapshot, steps } = run([
      { type: 'requested', data: { ...request, node: 'b' } },
      { type: 'started', data: { firstPulseId: 1_000, draftPath: '/data/.run1.h5.draft', writer: { node: 'b', process: 'b-1-x', stream } } },
      { type: 'progress', data: progress(1_040, 41) },
      { type: 'started', data: { firstPulseId: 1_000, draftPath: '/data/.run1.h5.draft', writer: { node: 'a', process: 'a-2-y', stream } } },
    ]);
    expect(snapshot.value).toBe('writing');
    expect(steps[3]?.actions).toEqual([]);
    expect(acquisitionActor.summary(snapshot as never)).toMatchObject({
      node: 'b',
      writer: { node: 'a', process: 'a-2-y', stream },
      firstPulseId: 1_000,
      draftPath: '/data/.run1.h5.draft',
    });
    expect(acquisitionActor.commands.start!.schema.safeParse({ ...request, node: 'no/slash' }).success).toBe(false);
  });
});

