import { describe, expect, it } from 'vitest';
import { localTime, scheduleTable } from './scheduleTable.js';

describe('scheduleTable', () => {
  it('shows fire times in the schedule zone and the state with its counters', () => {
    const text = scheduleTable([
      {
        id: 'a',
        state: 'active',
        summary: {
          name: 'nightly grab',
          cron: '0 1 * * *',
          timeZone: 'Europe/Zurich',
          nextFireAt: '2025-03-30T23:00:00.000Z',
          lastFireAt: '2025-03-30T00:00:00.000Z',
          fires: 3,
          skipped: 1,
          lastError: 'fire at x: refused',
        },
      },
      { id: 'b', state: 'paused', summary: { name: 'p', cron: '@daily', timeZone: 'UTC', nextFireAt: null, lastFireAt: null, fires: 0, skipped: 0 } },
    ]);
    expect(text.split('\n')).toEqual([
      'NAME          CRON       ZONE           NEXT FIRE         LAST FIRE         STATE',
      'nightly grab  0 1 * * *  Europe/Zurich  2025-03-31 01:00  2025-03-30 01:00  active, 3 fired, 1 skipped, last failed: fire at x: refused',
      'p             @daily     UTC            -                 -                 paused, 0 fired',
    ]);
    expect(scheduleTable([], { withId: true })).toBe('ID  NAME  CRON  ZONE  NEXT FIRE  LAST FIRE  STATE');
  });

  it('falls back to ISO 8601 for a zone it cannot use', () => {
    expect(localTime('2025-03-30T00:00:00.000Z', 'Mars/Base')).toBe('2025-03-30T00:00:00.000Z');
  });
});
