import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../events/envelope.js';
import { composeMessage, matchRule, notificationRequestId, notificationRuleSchema } from './notificationRules.js';

const event = (overrides: Partial<RecordedEvent>): RecordedEvent => ({
  id: 'e1',
  type: 'grab.chunkFailed',
  schemaVersion: 1,
  actorKind: 'grab',
  actorId: 'g1',
  version: 7,
  time: '2026-11-22T06:00:10.000Z',
  correlationId: 'c1',
  causationId: null,
  commandId: null,
  previousState: 'fetching',
  state: 'failed',
  final: true,
  summary: { outputFile: '/data/g1.h5', progress: { samples: 1_200 }, error: 'REFUSED: 400', startedAt: '2026-11-22T06:00:00.000Z', finishedAt: '2026-11-22T06:00:10.000Z' },
  data: {},
  position: 41,
  ...overrides,
});

const rule = (r: Record<string, unknown>) => notificationRuleSchema.parse({ name: 'r', channel: 'chat', ...r });

describe('notification rules', () => {
  it('fire on the final state they name, once per event, never on notifications or on events after the end', () => {
    expect(matchRule(rule({ on: ['failed'] }), event({}))).toBe('failed');
    expect(matchRule(rule({ on: ['completed'] }), event({}))).toBeNull();
    expect(matchRule(rule({ on: ['failed'], kinds: ['report'] }), event({}))).toBeNull();
    expect(matchRule(rule({ on: ['failed'] }), event({ final: false, state: 'fetching' }))).toBeNull();
    // A later event of a finished job (its clean-up) is no second ending.
    expect(matchRule(rule({ on: ['failed'] }), event({ previousState: 'failed' }))).toBeNull();
    expect(matchRule(rule({ on: ['failed'] }), event({ actorKind: 'notification' }))).toBeNull();
  });

  it('tell an acquisition that lost pulses from one that did not, and filter by label, instrument and schedule', () => {
    const acquisition = (summary: Record<string, unknown>) =>
      event({ actorKind: 'acquisition', state: 'completed', previousState: 'writing', summary });
    const lossRule = rule({ on: ['lostPulses', 'completed'] });
    expect(matchRule(lossRule, acquisition({ lostPulses: { from: 10, to: 19, count: 10, ranges: [{ from: 10, to: 19 }] } }))).toBe('lostPulses');
    expect(matchRule(lossRule, acquisition({}))).toBe('completed');
    expect(matchRule(rule({ on: ['lostPulses'] }), acquisition({}))).toBeNull();
    expect(matchRule(rule({ on: ['failed'], label: 'nightly' }), event({ summary: { label: 'nightly' } }))).toBe('failed');
    expect(matchRule(rule({ on: ['failed'], label: 'nightly' }), event({ summary: { label: 'other' } }))).toBeNull();
    expect(matchRule(rule({ on: ['completed'], instrument: 'SAR' }), event({ actorKind: 'report', state: 'completed', summary: { instruments: ['SAR', 'SAT'] } }))).toBe('completed');
    expect(matchRule(rule({ on: ['completed'], instrument: 'SAR' }), event({ actorKind: 'report', state: 'completed', summary: { instruments: ['SAT'] } }))).toBeNull();
    const fireFailed = event({ actorKind: 'schedule', type: 'schedule.fireFailed', final: false, state: 'active', previousState: 'active', summary: { name: 'nightly-grab' } });
    expect(matchRule(rule({ on: ['fireFailed'], schedule: 'nightly-grab' }), fireFailed)).toBe('fireFailed');
    expect(matchRule(rule({ on: ['fireFailed'], schedule: 'weekly' }), fireFailed)).toBeNull();
  });

  it('compose the key figures and a request id that is the same for the same rule and event', () => {
    const { trigger, message } = composeMessage(event({}), 'failed', 'http://daq:8080/');
    expect(trigger).toEqual({ kind: 'grab', id: 'g1', state: 'failed', position: 41, time: '2026-11-22T06:00:10.000Z' });
    expect(message.title).toBe('daqflow: grab g1 FAILED');
    expect(message.fields).toEqual([
      { name: 'file', value: '/data/g1.h5' },
      { name: 'samples', value: '1200' },
      { name: 'duration', value: '10 s' },
      { name: 'error', value: 'REFUSED: 400' },
    ]);
    expect(message.link).toBe('http://daq:8080/jobs/g1');
    expect(notificationRequestId(rule({ on: ['failed'] }), trigger)).toBe(notificationRequestId(rule({ on: ['failed'] }), { ...trigger }));
    expect(notificationRequestId(rule({ on: ['failed'], name: 'other' }), trigger)).not.toBe(notificationRequestId(rule({ on: ['failed'] }), trigger));
  });
});
