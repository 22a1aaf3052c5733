import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../events/index.js';
import { recordedDemoStep } from '../test/harness/demoEvents.js';
import { projectionSteps } from '../test/harness/projectionSteps.js';
import { useTestDatabase } from '../test/harness/testDatabase.js';
import {
  actorStatusProjection,
  getActorStatus,
  listActors,
  type ActorStatusRow,
} from './actorStatus.projection.js';

/** A 'demo' event at `position`; 'completed' makes it the actor's last. */
const demo = (id: string, version: number, position: number, state: 'running' | 'completed' = 'running'): RecordedEvent =>
  recordedDemoStep(id, version, state === 'completed' ? version : version + 1, position, {
    // One per version: a row that kept an older event's correlation id would show.
    correlationId: `corr-${id}-${version}`,
    summary: { step: version, tags: ['a', 'b'] },
  });

const expectedRow = (first: RecordedEvent, last: RecordedEvent): ActorStatusRow => ({
  kind: last.actorKind,
  id: last.actorId,
  state: last.state,
  final: last.final,
  version: last.version,
  position: last.position,
  created_at: new Date(first.time),
  updated_at: new Date(last.time),
  last_event_type: last.type,
  correlation_id: last.correlationId,
  summary: last.summary,
});

describe('actorStatusProjection', () => {
  const t = useTestDatabase();
  const { given, when } = projectionSteps(t, actorStatusProjection);
  const rows = (): Promise<ActorStatusRow[]> =>
    t.db.selectFrom('actor_status').selectAll().orderBy('kind').orderBy('id').execute();

  beforeEach(async () => {
    await sql`truncate actor_status`.execute(t.db);
  });

  it('creates a row for a new actor', async () => {
    const e1 = demo('a1', 1, 1);
    await when([e1]);
    expect(await rows()).toEqual([expectedRow(e1, e1)]);
  });

  it('folds a batch with several events per actor into one row each, newest version wins', async () => {
    const a1 = [demo('a1', 1, 1), demo('a1', 2, 3), demo('a1', 3, 5, 'completed')];
    const a2 = [demo('a2', 1, 2), demo('a2', 2, 4)];
    await when([a1[0]!, a2[0]!, a1[1]!, a2[1]!, a1[2]!]);
    expect(await rows()).toEqual([expectedRow(a1[0]!, a1[2]!), expectedRow(a2[0]!, a2[1]!)]);
  });

  it('moves an existing row forward and keeps created_at from the first event', async () => {
    const e1 = demo('a1', 1, 1);
    await given([e1]);
    const e2 = demo('a1', 2, 2);
    const e3 = demo('a1', 3, 3, 'completed');
    await when([e2, e3]);
    expect(await rows()).toEqual([expectedRow(e1, e3)]);
  });

  it('does not regress on late or duplicated older events', async () => {
    const history = [demo('a1', 1, 1), demo('a1', 2, 2), demo('a1', 3, 3, 'completed')];
    await given(history);
    await when([history[1]!, history[0]!]);
    await when([history[2]!, history[1]!]);
    expect(await rows()).toEqual([expectedRow(history[0]!, history[2]!)]);
  });

  it('handles batches larger than one statement (chunks of 1000 rows)', async () => {
    const events = Array.from({ length: 2_345 }, (_, i) => demo(`b${i}`, 1, i + 1));
    await when(events);
    const { count } = await t.db
      .selectFrom('actor_status')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow();
    expect(count).toBe(2_345);
  });

  describe('queries', () => {
    beforeEach(async () => {
      await given([
        demo('q1', 1, 1),
        demo('q2', 1, 2),
        demo('q1', 2, 3, 'completed'),
        demo('q3', 1, 4),
        { ...demo('o1', 1, 5), actorKind: 'other' },
      ]);
    });

    it('listActors: newest first, filtered by kind and state, limit clamped', async () => {
      expect((await listActors(t.db)).map((r) => r.id)).toEqual(['o1', 'q3', 'q1', 'q2']);
      expect((await listActors(t.db, { kind: 'demo' })).map((r) => r.id)).toEqual(['q3', 'q1', 'q2']);
      expect((await listActors(t.db, { kind: 'demo', state: 'running' })).map((r) => r.id)).toEqual([
        'q3',
        'q2',
      ]);
      expect((await listActors(t.db, { state: 'completed' })).map((r) => r.id)).toEqual(['q1']);
      expect(await listActors(t.db, { limit: 2 })).toHaveLength(2);
      expect(await listActors(t.db, { limit: 0 })).toHaveLength(1);
      expect(await listActors(t.db, { limit: 10_000 })).toHaveLength(4);
    });

    it('getActorStatus: by kind and id, by id alone, undefined when unknown', async () => {
      expect(await getActorStatus(t.db, 'demo', 'q1')).toMatchObject({ version: 2, state: 'completed' });
      expect(await getActorStatus(t.db, undefined, 'o1')).toMatchObject({ kind: 'other', version: 1 });
      expect(await getActorStatus(t.db, 'demo', 'o1')).toBeUndefined();
      expect(await getActorStatus(t.db, undefined, 'nobody')).toBeUndefined();
    });
  });
});
