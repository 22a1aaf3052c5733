import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import type { RecordedEvent } from '../../events/envelope.js';
import { actorStatusProjection } from '../../projections/actorStatus.projection.js';
import { setCheckpoint } from '../../projections/checkpoints.js';
import { DEFAULT_PROJECTOR_NAME } from '../../projections/projector.js';
import { appendDemoHistories } from '../../test/harness/demoEvents.js';
import { testStream } from '../../test/harness/testNames.js';
import { closeNats, connectNats } from '../jetstream/connection.js';
import { ensureEventStream } from '../jetstream/eventStream.js';
import { createJetStreamEventStore } from '../jetstream/jetstreamEventStore.js';
import { useTestDatabase } from '../../test/harness/testDatabase.js';
import { runStatus, type StatusOptions } from './status.js';

// The status rows are those the golden histories project to: a paused and a removed schedule,
// and the demo jobs.
const histories = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'histories');
const recorded = (kind: string): RecordedEvent[] =>
  readdirSync(join(histories, kind))
    .filter((f) => f.endsWith('.json'))
    .flatMap((f) => (JSON.parse(readFileSync(join(histories, kind, f), 'utf8')) as { events: RecordedEvent[] }).events);

const database = useTestDatabase();
const home = mkdtempSync(join(tmpdir(), 'daqflow-status-'));

beforeAll(async () => {
  await database.db.transaction().execute((trx) => actorStatusProjection.apply(trx, [...recorded('demo'), ...recorded('schedule')]));
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

const status = async (options: Partial<StatusOptions> = {}): Promise<string> => {
  const printed: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    printed.push(String(chunk));
    return true;
  });
  try {
    await runStatus({ limit: '50', natsUrl: inject('natsUrl'), databaseUrl: database.url, home, stream: 'NO_SUCH_STREAM', ...options });
  } finally {
    write.mockRestore();
  }
  return printed.join('');
};

describe('daqflow status with schedules', () => {
  it('lists the live schedules after the actors', async () => {
    const [out, lag] = (await status()).split('\n\nprojections: ');
    // No stream under this name on the test server: the lag cannot be told, the rows still print.
    expect(lag).toMatch(/^lag unknown \(/);
    const [actors, schedules] = out!.split('\nSCHEDULES\n');
    expect(actors).toMatch(/^KIND\s+ID\s+STATE/);
    expect(actors).toMatch(/\nschedule\s+\S+\s+removed/);
    expect(schedules?.trimEnd().split('\n')).toEqual([
      'NAME          CRON       ZONE  NEXT FIRE  LAST FIRE  STATE',
      expect.stringMatching(/^nightly demo\s+0 1 \* \* \*\s+UTC\s+-\s+-\s+paused, 0 fired, 1 skipped, last failed: fire at 2025-06-03T01:00:00.000Z: invalid demo start: steps/),
    ]);
  });

  it('shows removed schedules when asked for by state, and none for another kind or as JSON', async () => {
    expect((await status({ state: 'removed' })).split('\nSCHEDULES\n')[1]?.split('\n\nprojections: ')[0]).toMatch(/nightly demo\s+0 1 \* \* \*\s+Europe\/Zurich\s+-\s+2025-03-31 01:00\s+removed, 2 fired/);
    expect(await status({ kind: 'demo' })).not.toMatch(/SCHEDULES/);
    expect(await status({ kind: 'schedule' })).toMatch(/SCHEDULES/);
    const json = JSON.parse(await status({ json: true })) as { items: unknown[]; projections: { error?: string } };
    expect(json.items.length).toBeGreaterThan(0);
    expect(json.projections.error).toEqual(expect.any(String));
  });
});

describe('daqflow status on a stream', () => {
  it('says how far the projections trail the stream, in events and seconds', async () => {
    const names = testStream();
    const nc = await connectNats(inject('natsUrl'), 'status-lag-spec');
    const jsm = await jetstreamManager(nc);
    try {
      await ensureEventStream(jsm, names);
      const store = createJetStreamEventStore({ nc, ...names });
      const last = await appendDemoHistories(store, ['status-lag-a', 'status-lag-b'], 2);
      await store.close();
      // The stream's subject prefix is `<configured prefix>.events`.
      const subjectPrefix = names.subjectPrefix.replace(/\.events$/, '');
      await setCheckpoint(database.db, DEFAULT_PROJECTOR_NAME, 1);
      const behind = (await status({ stream: names.stream, subjectPrefix })).split('\n\nprojections: ')[1];
      expect(behind).toMatch(new RegExp(`^${last - 1} events \\(\\d+\\.\\d s\\) behind the stream, at position 1 of ${last}\\n`));
      const json = JSON.parse(await status({ stream: names.stream, subjectPrefix, json: true })) as { projections: Record<string, number> };
      expect(json.projections).toMatchObject({ streamPosition: last, projectedPosition: 1, eventsBehind: last - 1 });
      expect(json.projections.secondsBehind).toBeGreaterThanOrEqual(0);
      await setCheckpoint(database.db, DEFAULT_PROJECTOR_NAME, last);
      expect((await status({ stream: names.stream, subjectPrefix })).split('\n\nprojections: ')[1]).toMatch(new RegExp(`^up to date with the stream at position ${last}\\n`));
    } finally {
      await jsm.streams.delete(names.stream).catch(() => undefined);
      await closeNats(nc);
    }
  });
});
