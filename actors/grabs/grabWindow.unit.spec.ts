import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../events/errors.js';
import { lastMidnight, parseFacilityTime, resolveGrabWindow } from './grabWindow.js';

const refusal = (run: () => unknown): string => {
  try {
    run();
  } catch (e) {
    if (e instanceof ValidationError) return e.message;
    throw e;
  }
  throw new Error('not refused');
};

describe('grab window (the semantics of ParamDataGrabber.py)', () => {
  const reference = new Date('2026-11-22T05:30:00Z');

  it('ends at the last midnight of the zone by default and reaches back the sum of the lengths', () => {
    expect(resolveGrabWindow({ window: { days: 1 } }, { reference, timeZone: 'UTC' })).toEqual({
      start: new Date('2026-11-21T00:00:00Z'),
      stop: new Date('2026-11-22T00:00:00Z'),
    });
    // 05:30 UTC is 23:30 the day before in Chicago (UTC-6): its last midnight is 2026-11-21 06:00 UTC.
    expect(resolveGrabWindow({ window: { hours: 1, minutes: 30, seconds: 15 } }, { reference, timeZone: 'America/Chicago' })).toEqual({
      start: new Date('2026-11-21T04:29:45Z'),
      stop: new Date('2026-11-21T06:00:00Z'),
    });
  });

  it('counts whole days as calendar days of the zone: nightly windows tile across DST changes', () => {
    const zone = { timeZone: 'Europe/Zurich' };
    // Zurich: summer time ends 2026-10-25 (a 25-hour day), starts 2026-03-29 (23 hours).
    const nights = ['2026-10-24', '2026-10-25', '2026-10-26', '2026-10-27', '2026-03-28', '2026-03-29', '2026-03-30'].map((day) =>
      resolveGrabWindow({ window: { days: 1 } }, { ...zone, reference: new Date(`${day}T12:00:00Z`) }),
    );
    for (let i = 1; i < 4; i++) expect(nights[i]?.start, `night ${i}`).toEqual(nights[i - 1]?.stop);
    for (let i = 5; i < 7; i++) expect(nights[i]?.start, `night ${i}`).toEqual(nights[i - 1]?.stop);
    expect((nights[2]!.stop.getTime() - nights[2]!.start.getTime()) / 3_600_000).toBe(25);
    expect((nights[6]!.stop.getTime() - nights[6]!.start.getTime()) / 3_600_000).toBe(23);
    // A day and a half: one calendar day, then twelve hours.
    const mixed = resolveGrabWindow({ window: { days: 1.5 } }, { timeZone: 'UTC', reference: new Date('2026-11-22T05:00:00Z') });
    expect(mixed.start).toEqual(new Date('2026-11-20T12:00:00Z'));
  });

  it('ends at the reference time itself for stopAt "now" (a schedule\'s fire time)', () => {
    expect(resolveGrabWindow({ stopAt: 'now', window: { hours: 1 } }, { reference, timeZone: 'UTC' })).toEqual({
      start: new Date('2026-11-22T04:30:00Z'),
      stop: reference,
    });
  });

  it('is one second long when every length is zero or absent', () => {
    const { start, stop } = resolveGrabWindow({}, { reference, timeZone: 'UTC' });
    expect(stop.getTime() - start.getTime()).toBe(1_000);
    const zero = resolveGrabWindow({ window: { days: 0, hours: 0 } }, { reference, timeZone: 'UTC' });
    expect(zero.stop.getTime() - zero.start.getTime()).toBe(1_000);
  });

  it('reads stopAt as wall time of the zone, or as given with an offset', () => {
    expect(parseFacilityTime('2026-11-21 12:00:00', 'Europe/Zurich')).toEqual(new Date('2026-11-21T11:00:00Z'));
    expect(parseFacilityTime('2026-07-21 12:00:00', 'Europe/Zurich')).toEqual(new Date('2026-07-21T10:00:00Z'));
    expect(parseFacilityTime('2026-11-21', 'UTC')).toEqual(new Date('2026-11-21T00:00:00Z'));
    expect(parseFacilityTime('2026-11-21 00:00:00.5', 'UTC')).toEqual(new Date('2026-11-21T00:00:00.500Z'));
    expect(() => parseFacilityTime('2026-03-29 02:30:00', 'Europe/Zurich', 'stopAt')).toThrow(/does not exist in Europe\/Zurich/);
    expect(parseFacilityTime('2026-11-21T12:00:00+01:00', 'America/Chicago')).toEqual(new Date('2026-11-21T11:00:00Z'));
  });

  it('knows a day of 23 hours: the last midnight after a DST change is local midnight', () => {
    // Europe/Zurich left summer time on 2026-10-25 at 03:00 local (01:00 UTC).
    expect(lastMidnight(new Date('2026-10-25T12:00:00Z'), 'Europe/Zurich')).toEqual(new Date('2026-10-24T22:00:00Z'));
    expect(lastMidnight(new Date('2026-10-26T12:00:00Z'), 'Europe/Zurich')).toEqual(new Date('2026-10-25T23:00:00Z'));
  });

  it('refuses what is not a window, with the field in the message', () => {
    const options = { reference, timeZone: 'UTC' };
    expect(refusal(() => resolveGrabWindow({ startAt: '2026-11-21 05:00:00', stopAt: '2026-11-21 04:00:00' }, options))).toMatch(
      /startAt: the window is inverted/,
    );
    expect(refusal(() => resolveGrabWindow({ window: { days: 3_650 } }, options))).toMatch(/3650\.0 days long.*at most 366 days/);
    expect(refusal(() => resolveGrabWindow({ stopAt: '2026-02-30 00:00:00' }, options))).toMatch(/stopAt: .* not a valid date/);
    expect(refusal(() => resolveGrabWindow({ stopAt: 'yesterday' }, options))).toMatch(/stopAt: "yesterday" is not a time/);
    expect(refusal(() => resolveGrabWindow({ startAt: '2026-11-20 00:00:00', window: { days: 1 } }, options))).toMatch(/either startAt or a window/);
    expect(refusal(() => resolveGrabWindow({}, { reference, timeZone: 'Mars/Olympus' }))).toMatch(/unknown time zone/);
  });
});
