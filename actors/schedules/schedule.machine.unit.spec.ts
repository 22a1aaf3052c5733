import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import { newId } from '../../adapters/ids.js';
import { ValidationError } from '../../events/errors.js';
import { EventSchemas } from '../../events/eventSchemas.js';
import { InMemoryEventStore } from '../../events/inMemoryEventStore.js';
import { defineActor } from '../runtime/actorDefinition.js';
import { ActorRuntime } from '../runtime/actorRuntime.js';
import { createPureTransitions, type TransitionResult } from '../runtime/pureTransition.js';
import { stateOf } from '../runtime/stateOf.js';
import { nextFireTime } from './nextFireTime.js';
import { scheduleActor, scheduleCreateSchema } from './schedule.actor.js';
import type { ScheduleContext } from './schedule.machine.js';
import { scheduleMachine } from './schedule.machine.js';

const target = { kind: 'grab', command: 'start', payload: { parameters: ['SARFE10-PBPG050:PHOTON-ENERGY'], window: { days: 1 } } };
const created = (overrides: Record<string, unknown> = {}) => ({
  name: 'nightly grab',
  cron: '0 1 * * *',
  timeZone: 'Europe/Zurich',
  target,
  missed: 'catchUp',
  graceSeconds: 60,
  ...overrides,
});

const transitions = createPureTransitions(scheduleMachine, { id: 'sched-1' });
const send = (snapshot: AnyMachineSnapshot, type: string, data: unknown, time: string): TransitionResult => {
  const event = { type, data, time };
  if (!snapshot.can(event)) throw new Error(`${type} refused in ${stateOf(snapshot)}`);
  return transitions.next(snapshot, event);
};
const contextOf = (snapshot: AnyMachineSnapshot): ScheduleContext => snapshot.context as ScheduleContext;
const nextAt = (snapshot: AnyMachineSnapshot): string | undefined => contextOf(snapshot).deadlines.fire?.at;
const fireEffects = (actions: TransitionResult[1]) =>
  actions.filter((a) => a.type === 'fire').map((a) => ({ type: a.type, params: a.params }));

// 2025-03-30 is the spring-forward day in Zurich: 01:00 is CET (00:00Z) that night, CEST (23:00Z) the next.
const createdAt = '2025-03-29T12:00:00.000Z';
const firstFire = '2025-03-30T00:00:00.000Z';
const active = (overrides: Record<string, unknown> = {}): AnyMachineSnapshot =>
  send(transitions.initial()[0], 'created', created(overrides), createdAt)[0];

describe('schedule machine', () => {
  it('arms its first fire at the next cron time in its zone', () => {
    const [snapshot, actions] = send(transitions.initial()[0], 'created', created(), createdAt);
    expect(stateOf(snapshot)).toBe('active');
    expect(actions).toEqual([]);
    expect(contextOf(snapshot).deadlines).toEqual({ fire: { at: firstFire, event: { type: 'fireDue', data: { at: firstFire } } } });
  });

  it('computes fire times across both DST changes', () => {
    expect(nextFireTime('0 1 * * *', 'Europe/Zurich', firstFire)).toBe('2025-03-30T23:00:00.000Z');
    expect(nextFireTime('0 1 * * *', 'Europe/Zurich', '2025-10-25T12:00:00.000Z')).toBe('2025-10-25T23:00:00.000Z');
    expect(nextFireTime('0 1 * * *', 'Europe/Zurich', '2025-10-25T23:00:00.000Z')).toBe('2025-10-27T00:00:00.000Z');
    // 02:30 does not exist on the spring-forward day: croner fires at 03:30 CEST instead of skipping the day.
    expect(nextFireTime('30 2 * * *', 'Europe/Zurich', '2025-03-29T12:00:00.000Z')).toBe('2025-03-30T01:30:00.000Z');
    // 02:30 happens twice on the fall-back day: it fires once, at the first.
    expect(nextFireTime('30 2 * * *', 'Europe/Zurich', '2025-10-25T12:00:00.000Z')).toBe('2025-10-26T00:30:00.000Z');
    expect(nextFireTime('30 2 * * *', 'Europe/Zurich', '2025-10-26T00:30:00.000Z')).toBe('2025-10-27T01:30:00.000Z');
    expect(nextFireTime('0 1 * * *', 'UTC', firstFire)).toBe('2025-03-30T01:00:00.000Z');
  });

  it('answers from inside the repeated hour with the second pass, never with a time already past', () => {
    // 01:15Z is 02:15 CET, the second 02:15 of the day: croner alone answers 00:30Z (the first 02:30).
    expect(nextFireTime('30 2 * * *', 'Europe/Zurich', '2025-10-26T01:15:00.000Z')).toBe('2025-10-26T01:30:00.000Z');
    expect(nextFireTime('*/15 * * * *', 'Europe/Zurich', '2025-10-26T01:05:00.000Z')).toBe('2025-10-26T01:15:00.000Z');
    const zones = ['Europe/Zurich', 'America/New_York', 'Australia/Sydney', 'America/Santiago', 'Australia/Lord_Howe', 'Asia/Kolkata'];
    const crons = ['0 1 * * *', '30 2 * * *', '*/15 * * * *', '45 */2 * * *', '0 3 * * 0', '0 0 1 * *', '15 2 * * *'];
    fc.assert(
      fc.property(
        fc.integer({ min: Date.parse('2024-01-01T00:00:00Z'), max: Date.parse('2027-12-31T00:00:00Z') }),
        fc.constantFrom(...zones),
        fc.constantFrom(...crons),
        (ms, zone, cron) => {
          const after = new Date(ms).toISOString();
          const next = nextFireTime(cron, zone, after);
          expect(next).not.toBeNull();
          expect(Date.parse(next ?? '')).toBeGreaterThan(ms);
          expect(Date.parse(next ?? '') - ms).toBeLessThanOrEqual(32 * 86_400_000);
        },
      ),
      { numRuns: 3_000 },
    );
  });

  it('fires on time: one fire effect, and the next deadline is the next cron time (DST day)', () => {
    const [snapshot, actions] = send(active(), 'fireDue', { at: firstFire }, '2025-03-30T00:00:00.120Z');
    expect(fireEffects(actions)).toEqual([
      { type: 'fire', params: { scheduleId: 'sched-1', at: firstFire, caughtUp: false, target } },
    ]);
    expect(nextAt(snapshot)).toBe('2025-03-30T23:00:00.000Z');
    expect(contextOf(snapshot).firing).toEqual([{ at: firstFire, caughtUp: false }]);
    expect(scheduleActor.summary(snapshot as never)).toMatchObject({ nextFireAt: '2025-03-30T23:00:00.000Z', fires: 0, firing: 1 });
  });

  it('takes a fire exactly graceSeconds late as on time', () => {
    const [, actions] = send(active(), 'fireDue', { at: firstFire }, '2025-03-30T00:01:00.000Z');
    expect(fireEffects(actions)).toMatchObject([{ params: { caughtUp: false } }]);
  });

  it('catches a missed fire up once, however many times were missed, and counts on from the event time', () => {
    // Down from before the first fire until three days later: three 01:00s passed.
    const downUntil = '2025-04-02T10:00:00.000Z';
    const [snapshot, actions] = send(active(), 'fireDue', { at: firstFire }, downUntil);
    expect(fireEffects(actions)).toEqual([{ type: 'fire', params: { scheduleId: 'sched-1', at: firstFire, caughtUp: true, target } }]);
    expect(nextAt(snapshot)).toBe('2025-04-02T23:00:00.000Z');
    expect(Date.parse(nextAt(snapshot) ?? '')).toBeGreaterThan(Date.parse(downUntil));
    expect(contextOf(snapshot).skipped).toBe(0);
  });

  it('skips a missed fire when so configured: no effect, one more skipped', () => {
    const downUntil = '2025-04-02T10:00:00.000Z';
    const [snapshot, actions] = send(active({ missed: 'skip' }), 'fireDue', { at: firstFire }, downUntil);
    expect(actions).toEqual([]);
    expect(contextOf(snapshot).skipped).toBe(1);
    expect(contextOf(snapshot).firing).toEqual([]);
    expect(nextAt(snapshot)).toBe('2025-04-02T23:00:00.000Z');
    expect(stateOf(snapshot)).toBe('active');
  });

  it('refuses a fireDue for a time other than the armed one', () => {
    expect(active().can({ type: 'fireDue', data: { at: '2025-03-30T23:00:00.000Z' }, time: '2025-03-31T00:00:00.000Z' })).toBe(false);
  });

  it('does not arm the same time again when the clock reads before the deadline', () => {
    const [snapshot] = send(active(), 'fireDue', { at: firstFire }, '2025-03-29T23:59:59.900Z');
    expect(nextAt(snapshot)).toBe('2025-03-30T23:00:00.000Z');
  });

  it('records outcomes: fired, fireFailed, and refuses an outcome for a fire not in flight', () => {
    let [snapshot] = send(active(), 'fireDue', { at: firstFire }, '2025-03-30T00:00:00.100Z');
    expect(snapshot.can({ type: 'fired', data: { at: '2025-03-31T23:00:00.000Z', targetId: 'x', state: 'y' }, time: firstFire })).toBe(false);
    [snapshot] = send(snapshot, 'fired', { at: firstFire, targetId: 'grab-1', state: 'planning' }, '2025-03-30T00:00:00.300Z');
    expect(scheduleActor.summary(snapshot as never)).toEqual({
      name: 'nightly grab',
      cron: '0 1 * * *',
      timeZone: 'Europe/Zurich',
      target: { kind: 'grab', command: 'start' },
      missed: 'catchUp',
      nextFireAt: '2025-03-30T23:00:00.000Z',
      lastFireAt: firstFire,
      lastTargetId: 'grab-1',
      fires: 1,
      skipped: 0,
      failures: 0,
    });
    const second = '2025-03-30T23:00:00.000Z';
    [snapshot] = send(snapshot, 'fireDue', { at: second }, '2025-03-30T23:00:00.050Z');
    [snapshot] = send(snapshot, 'fireFailed', { at: second, message: 'grab start: parameters: required' }, '2025-03-30T23:00:00.060Z');
    expect(scheduleActor.summary(snapshot as never)).toMatchObject({
      fires: 1,
      failures: 1,
      lastFireAt: firstFire,
      lastError: `fire at ${second}: grab start: parameters: required`,
      nextFireAt: '2025-03-31T23:00:00.000Z',
    });
    expect(stateOf(snapshot)).toBe('active');
  });

  it('keeps each fire in flight apart when the next is due before the last reported', () => {
    let [snapshot] = send(active({ cron: '* * * * *', timeZone: 'UTC' }), 'fireDue', { at: '2025-03-29T12:01:00.000Z' }, '2025-03-29T12:01:00.010Z');
    [snapshot] = send(snapshot, 'fireDue', { at: '2025-03-29T12:02:00.000Z' }, '2025-03-29T12:02:00.010Z');
    expect(contextOf(snapshot).firing.map((f) => f.at)).toEqual(['2025-03-29T12:01:00.000Z', '2025-03-29T12:02:00.000Z']);
    expect(scheduleActor.recover?.(snapshot as never)).toEqual([
      {
        type: 'refire',
        params: {
          fires: [
            { scheduleId: 'sched-1', at: '2025-03-29T12:01:00.000Z', caughtUp: false, target },
            { scheduleId: 'sched-1', at: '2025-03-29T12:02:00.000Z', caughtUp: false, target },
          ],
        },
      },
    ]);
    [snapshot] = send(snapshot, 'fired', { at: '2025-03-29T12:02:00.000Z', targetId: 'b', state: 'planning' }, '2025-03-29T12:02:00.020Z');
    expect(contextOf(snapshot).firing.map((f) => f.at)).toEqual(['2025-03-29T12:01:00.000Z']);
    expect(scheduleActor.recover?.(active() as never)).toEqual([]);
  });

  it('pauses (no deadline, no fire) and resumes from the resume time', () => {
    let [snapshot] = send(active(), 'paused', {}, '2025-03-29T13:00:00.000Z');
    expect(stateOf(snapshot)).toBe('paused');
    expect(contextOf(snapshot).deadlines).toEqual({});
    expect(snapshot.can({ type: 'fireDue', data: { at: firstFire }, time: firstFire })).toBe(false);
    expect(snapshot.can({ type: 'paused', data: {}, time: firstFire })).toBe(false);
    [snapshot] = send(snapshot, 'resumed', {}, '2025-04-05T08:00:00.000Z');
    expect(stateOf(snapshot)).toBe('active');
    expect(nextAt(snapshot)).toBe('2025-04-05T23:00:00.000Z');
  });

  it('takes the outcome of a fire in flight while paused', () => {
    let [snapshot] = send(active(), 'fireDue', { at: firstFire }, '2025-03-30T00:00:00.100Z');
    [snapshot] = send(snapshot, 'paused', {}, '2025-03-30T00:00:00.150Z');
    [snapshot] = send(snapshot, 'fired', { at: firstFire, targetId: 'grab-1', state: 'planning' }, '2025-03-30T00:00:00.300Z');
    expect(stateOf(snapshot)).toBe('paused');
    expect(contextOf(snapshot)).toMatchObject({ fires: 1, firing: [], deadlines: {} });
  });

  it('ends when removed, from active or paused', () => {
    const [removed] = send(active(), 'removed', { reason: 'no longer needed' }, '2025-03-29T13:00:00.000Z');
    expect(removed.status).toBe('done');
    expect(contextOf(removed).deadlines).toEqual({});
    const [paused] = send(active(), 'paused', {}, '2025-03-29T13:00:00.000Z');
    expect(send(paused, 'removed', { reason: '' }, '2025-03-29T14:00:00.000Z')[0].status).toBe('done');
  });

  it('records a thrown effect and drops its fires', () => {
    let [snapshot] = send(active(), 'fireDue', { at: firstFire }, '2025-03-30T00:00:00.100Z');
    [snapshot] = send(snapshot, 'effectFailed', { effect: 'fire', message: 'boom' }, '2025-03-30T00:00:00.200Z');
    expect(contextOf(snapshot)).toMatchObject({ firing: [], failures: 1, lastError: 'fire: boom' });
    expect(stateOf(snapshot)).toBe('active');
  });
});

describe('schedule create command', () => {
  it('defaults the zone, the missed policy, the grace and the payload', () => {
    expect(scheduleCreateSchema.parse({ name: 'n', cron: '0 1 * * *', target: { kind: 'grab', command: 'start' } })).toEqual({
      name: 'n',
      cron: '0 1 * * *',
      timeZone: 'UTC',
      target: { kind: 'grab', command: 'start', payload: {} },
      missed: 'catchUp',
      graceSeconds: 60,
    });
  });

  it.each([
    ['61 * * * *', /minute: 61/],
    ['every night', /exactly five, six, or seven/],
    ['0 0 30 2 *', /matches no date/],
    ['2025-01-01T00:00:00', /a date is not a cron expression/],
  ])('refuses the cron expression %s with a 400 that says why', async (cron, reason) => {
    const runtime = new ActorRuntime({
      store: new InMemoryEventStore(),
      schemas: new EventSchemas(),
      definitions: [defineActor(scheduleActor)],
      newId,
    });
    const refused = runtime.create('schedule', 'create', { name: 'n', cron, target: { kind: 'grab', command: 'start' } });
    await expect(refused).rejects.toBeInstanceOf(ValidationError);
    await expect(refused).rejects.toThrow(/invalid schedule create: cron: not a cron expression/);
    await expect(refused).rejects.toThrow(reason);
    await expect(refused).rejects.toMatchObject({ status: 400 });
  });

  it('refuses an unknown time zone and a target that is no actor kind', () => {
    const zone = scheduleCreateSchema.safeParse({ name: 'n', cron: '@daily', timeZone: 'Mars/Base', target: { kind: 'grab', command: 'start' } });
    expect(zone.error?.issues).toMatchObject([{ path: ['timeZone'], message: expect.stringMatching(/unknown time zone "Mars\/Base"/) }]);
    const kind = scheduleCreateSchema.safeParse({ name: 'n', cron: '@daily', target: { kind: 'grab.start', command: 'start' } });
    expect(kind.error?.issues).toMatchObject([{ path: ['target', 'kind'] }]);
  });
});
