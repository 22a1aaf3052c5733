import { describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import { createPureTransitions } from '../runtime/pureTransition.js';
import { notificationActor } from './notification.actor.js';
import type { NotificationEvent } from './notification.events.js';
import { notificationMachine } from './notification.machine.js';

const requested = {
  rule: 'trouble',
  channel: 'chat',
  trigger: { kind: 'grab', id: 'g1', state: 'failed', position: 41, time: '2026-11-22T06:00:00.000Z' },
  message: { title: 'daqflow: grab g1 FAILED', fields: [{ name: 'error', value: 'REFUSED' }], link: null, event: null },
  maxAttempts: 3,
  initialDelayMs: 1_000,
  maxDelayMs: 1_500,
};

const run = (events: Array<{ type: NotificationEvent['type']; data: unknown }>) => {
  const pure = createPureTransitions(notificationMachine, { id: 'n1' });
  let [snapshot] = pure.initial();
  const steps: Array<{ snapshot: AnyMachineSnapshot; actions: Array<{ type: string; params?: unknown }> }> = [];
  for (const [i, e] of events.entries()) {
    const event = { ...e, time: new Date(Date.UTC(2026, 10, 22, 6, 0, i)).toISOString() };
    const [next, actions] = pure.next(snapshot, event);
    snapshot = next;
    steps.push({ snapshot, actions: actions.map((a) => ({ type: a.type, params: a.params })) });
  }
  return { snapshot, steps };
};

const summary = (s: AnyMachineSnapshot) => notificationActor.summary(s as never) as Record<string, unknown>;

describe('notification machine', () => {
  it('sends, retries a retryable failure after the backoff, and ends sent', () => {
    const { snapshot, steps } = run([
      { type: 'requested', data: requested },
      { type: 'attemptFailed', data: { attempt: 1, message: 'answered 500', retryable: true } },
      { type: 'retryDue', data: { attempt: 2 } },
      { type: 'sent', data: { attempt: 2, detail: 'HTTP 200' } },
    ]);
    expect(steps[0]?.actions).toEqual([{ type: 'send', params: { rule: 'trouble', channel: 'chat', attempt: 1, message: requested.message, trigger: requested.trigger } }]);
    expect(steps[1]?.snapshot.value).toBe('waiting');
    // The first retry waits the initial delay after the failure (event 1 at 06:00:01).
    expect(summary(steps[1]!.snapshot)['retryAt']).toBe('2026-11-22T06:00:02.000Z');
    expect(steps[2]?.actions.map((a) => [a.type, (a.params as { attempt: number }).attempt])).toEqual([['send', 2]]);
    expect(snapshot.value).toBe('sent');
    expect(summary(snapshot)).toMatchObject({ attempt: 2, detail: 'HTTP 200', error: 'answered 500' });
  });

  it('gives up after maxAttempts, saying so, and doubles the delay up to the maximum', () => {
    const { snapshot, steps } = run([
      { type: 'requested', data: requested },
      { type: 'attemptFailed', data: { attempt: 1, message: 'timed out', retryable: true } },
      { type: 'retryDue', data: { attempt: 2 } },
      { type: 'attemptFailed', data: { attempt: 2, message: 'timed out', retryable: true } },
      { type: 'retryDue', data: { attempt: 3 } },
      { type: 'attemptFailed', data: { attempt: 3, message: 'timed out', retryable: true } },
    ]);
    // After attempt 2 (event 3 at 06:00:03): 2,000 ms doubled, capped at 1,500.
    expect(summary(steps[3]!.snapshot)['retryAt']).toBe('2026-11-22T06:00:04.500Z');
    expect(snapshot.value).toBe('failed');
    expect(summary(snapshot)['error']).toBe('gave up after 3 attempts: timed out');
  });

  it('fails at once on a refusal no retry mends, and ignores an outcome of an attempt that is not the current one', () => {
    const refused = run([
      { type: 'requested', data: requested },
      { type: 'attemptFailed', data: { attempt: 1, message: 'answered 404', retryable: false } },
    ]);
    expect(refused.snapshot.value).toBe('failed');
    expect(summary(refused.snapshot)['error']).toBe('answered 404');
    const stale = run([
      { type: 'requested', data: requested },
      { type: 'sent', data: { attempt: 2, detail: 'HTTP 200' } },
    ]);
    expect(stale.snapshot.value).toBe('sending');
  });

  it('re-issues the send of the attempt in flight when recovered, with the same parameters', () => {
    const { snapshot } = run([
      { type: 'requested', data: requested },
      { type: 'attemptFailed', data: { attempt: 1, message: 'answered 500', retryable: true } },
      { type: 'retryDue', data: { attempt: 2 } },
    ]);
    expect(notificationActor.recover?.(snapshot as never)).toEqual([
      { type: 'send', params: { rule: 'trouble', channel: 'chat', attempt: 2, message: requested.message, trigger: requested.trigger } },
    ]);
  });
});
