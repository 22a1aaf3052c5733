import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../events/index.js';
import { recordedDemoStep } from '../test/harness/demoEvents.js';
import { projectionSteps } from '../test/harness/projectionSteps.js';
import { useTestDatabase } from '../test/harness/testDatabase.js';
import {
  actorHistory,
  actorTransitionProjection,
  type ActorTransitionRow,
} from './actorTransition.projection.js';

/** A 'demo' event at `position`, of a history that version 3 completes; version 1 carries a command id. */
const demo = (id: string, version: number, position: number, data: unknown = { n: version }): RecordedEvent =>
  recordedDemoStep(id, version, 3, position, { commandId: version === 1 ? `cmd-${id}` : null, data });

const expectedRow = (e: RecordedEvent): ActorTransitionRow => ({
  position: e.position,
  kind: e.actorKind,
  id: e.actorId,
  version: e.version,
  type: e.type,
  previous_state: e.previousState,
  state: e.state,
  final: e.final,
  time: new Date(e.time),
  correlation_id: e.correlationId,
  causation_id: e.causationId,
  command_id: e.commandId,
  data: e.data ?? null,
});

describe('actorTransitionProjection', () => {
  const t = useTestDatabase();
  const { given, when } = projectionSteps(t, actorTransitionProjection);
  const rows = (): Promise<ActorTransitionRow[]> =>
    t.db.selectFrom('actor_transition').selectAll().orderBy('position').execute();

  beforeEach(async () => {
    await sql`truncate actor_transition`.execute(t.db);
  });

  it('records one row per event with every envelope field', async () => {
    const events = [demo('a1', 1, 1), demo('a2', 1, 2), demo('a1', 2, 3), demo('a1', 3, 4)];
    await when(events);
    expect(await rows()).toEqual(events.map(expectedRow));
  });

  it('keeps any JSON value as data: arrays, strings, numbers, null', async () => {
    const events = [
      demo('j1', 1, 1, [1, 'two', { three: 3 }]),
      demo('j2', 1, 2, 'text'),
      demo('j3', 1, 3, 42),
      demo('j4', 1, 4, null),
      { ...demo('j5', 1, 5), data: undefined },
    ];
    await when(events);
    expect((await rows()).map((r) => r.data)).toEqual([[1, 'two', { three: 3 }], 'text', 42, null, null]);
  });

  it('skips events already recorded, also when they come back out of order', async () => {
    const history = [demo('a1', 1, 1), demo('a1', 2, 2), demo('a1', 3, 3)];
    await given([history[0]!, history[2]!]);
    await when([history[2]!, history[1]!, history[0]!]);
    expect(await rows()).toEqual(history.map(expectedRow));
  });

  it('ignores a second copy of a version stored under another position', async () => {
    const original = demo('a1', 1, 1);
    await given([original]);
    await when([{ ...original, position: 9, state: 'other' }]);
    expect(await rows()).toEqual([expectedRow(original)]);
  });

  it('actorHistory: the actor transitions ordered by version, empty when unknown', async () => {
    const history = [demo('h1', 3, 30), demo('h1', 1, 10), demo('h2', 1, 15), demo('h1', 2, 20)];
    await given(history);
    expect((await actorHistory(t.db, 'h1')).map((r) => [r.version, r.position])).toEqual([
      [1, 10],
      [2, 20],
      [3, 30],
    ]);
    expect(await actorHistory(t.db, 'nobody')).toEqual([]);
  });
});
