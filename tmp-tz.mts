import { nextFireTime } from './actors/schedule/nextFireTime.js';
const local = (ms: number, tz: string) => new Intl.DateTimeFormat('en-GB', { timeZone: tz, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(ms));
let bad = 0, n = 0;
for (const [e, hm] of [['0 1 * * *', '01:00'], ['30 2 * * *', '02:30'], ['0 0 * * *', '00:00']] as const)
  for (const tz of ['Europe/Zurich', 'America/New_York', 'Australia/Sydney']) {
    for (let t = Date.parse('2025-03-01T00:00:00Z'); t < Date.parse('2025-11-30T00:00:00Z'); t += 7 * 3_600_000 + 13 * 60_000) {
      const got = nextFireTime(e, tz, new Date(t).toISOString());
      // brute force: first minute after t whose local time is hm
      let m = Math.floor(t / 60_000) * 60_000 + 60_000;
      while (local(m, tz) !== hm && m < t + 3 * 86_400_000) m += 60_000;
      n++;
      const want = m < t + 3 * 86_400_000 ? new Date(m).toISOString() : 'gap';
      if (got !== want) { bad++; if (bad < 10) console.log(e, tz, new Date(t).toISOString(), 'got', got, 'want', want); }
    }
  }
console.log('checked', n, 'mismatches', bad);
