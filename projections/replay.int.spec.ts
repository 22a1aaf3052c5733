import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../adapters/postgres/migrate.js';
import { InMemoryEventStore, type EventEnvelope } from '../events/index.js';
import { appendDemoHistories, demoStep, demoTime } from '../test/harness/demoEvents.js';
import { migratedIndexes, useTestDatabase } from '../test/harness/testDatabase.js';
import { getActorStatus, listActors } from './actorStatus.projection.js';
import { actorHistory } from './actorTransition.projection.js';
import { readCheckpoint } from './checkpoints.js';
import { startProjector, type ProjectorLogger } from './projector.js';
import { allProjections } from '../adapters/jobs/registry.js';
import { rebuildProjections, type RebuildOptions, type RebuildProgress } from './replay.js';

const ACTORS = 200;
const VERSIONS = 100;
const N = ACTORS * VERSIONS;

/** A demo event with more in it to carry over: a command id, nested data, milliseconds in the time. */
const step = (id: string, version: number, versions: number): EventEnvelope =>
  demoStep(id, version, versions, {
    time: demoTime(version, id.length),
    commandId: version === 1 ? `start-${id}` : null,
    summary: { step: version, of: versions },
    data: { n: version, samples: [version, version * 2] },
  });

const quiet: ProjectorLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('rebuildProjections', () => {
  const t = useTestDatabase();
  let store: InMemoryEventStore;
  let rebuild: (extra?: Partial<RebuildOptions>) => ReturnType<typeof rebuildProjections>;
  const allRows = async () => ({
    status: await t.db.selectFrom('actor_status').selectAll().orderBy('kind').orderBy('id').execute(),
    transitions: await t.db.selectFrom('actor_transition').selectAll().orderBy('position').execute(),
  });
  const shadowSchemas = async (): Promise<unknown[]> =>
    (await sql`select nspname from pg_namespace where nspname like 'daqflow_rebuild_%'`.execute(t.db)).rows;
  let snapshot: Awaited<ReturnType<typeof allRows>>;

  beforeAll(async () => {
    store = new InMemoryEventStore();
    await appendDemoHistories(store, Array.from({ length: ACTORS }, (_, i) => `a${i}`), VERSIONS, { step });
    const projector = startProjector({ db: t.db, store, projections: allProjections, logger: quiet });
    await projector.caughtUp(N);
    await projector.stop();
    snapshot = await allRows();
    rebuild = (extra = {}) =>
      rebuildProjections({
        db: t.db,
        store,
        projections: allProjections,
        prepareSchema: (schema) => migrateToLatest(t.db, { schema }),
        ...extra,
      });
  }, 120_000);

  it(`(a) recreates dropped tables row for row from ${N} events`, async () => {
    expect(snapshot.status).toHaveLength(ACTORS);
    expect(snapshot.transitions).toHaveLength(N);
    await sql`drop table actor_status`.execute(t.db);
    await sql`drop table actor_transition`.execute(t.db);
    const progress: RebuildProgress[] = [];

    const result = await rebuild({ onProgress: (p) => progress.push(p) });

    expect(result).toMatchObject({ events: N, position: N });
    expect(await allRows()).toEqual(snapshot);
    expect(await readCheckpoint(t.db, 'daqflow-projector')).toBe(N);
    expect(await shadowSchemas()).toEqual([]);
    expect(progress.at(-1)).toEqual({ phase: 'swapped', events: N, position: N, target: N });
    expect(progress.filter((p) => p.phase === 'fold').length).toBe(N / 1_000);
    // Indexes and constraints moved along with the tables.
    const { rows: indexes } = await sql<{ indexname: string }>`
      select indexname from pg_indexes where schemaname = 'public' and tablename like 'actor_%' order by 1
    `.execute(t.db);
    expect(indexes.map((r) => r.indexname)).toEqual(migratedIndexes.filter((name) => name.startsWith('actor_')));
    console.info(
      `rebuild of ${N} events: ${Math.round(result.ms)} ms, ${Math.round((N / result.ms) * 1_000)} events/s ` +
        `(${Math.round(((N + ACTORS) / result.ms) * 1_000)} rows/s)`,
    );
  });

  it('(b) status queries keep answering while a rebuild runs', async () => {
    let done = false;
    const outcomes = { ok: 0, failed: [] as unknown[], empty: 0 };
    const keepQuerying = async (query: () => Promise<unknown[] | unknown>): Promise<void> => {
      while (!done) {
        try {
          const rows = await query();
          if (rows === undefined || (Array.isArray(rows) && rows.length === 0)) outcomes.empty += 1;
          else outcomes.ok += 1;
        } catch (e) {
          outcomes.failed.push(e);
        }
      }
    };
    const readers = [
      keepQuerying(() => listActors(t.db, { limit: 50 })),
      keepQuerying(() => listActors(t.db, { state: 'completed', limit: 10 })),
      keepQuerying(() => getActorStatus(t.db, 'demo', `a${Math.floor(Math.random() * ACTORS)}`)),
      keepQuerying(() => actorHistory(t.db, `a${Math.floor(Math.random() * ACTORS)}`)),
    ];
    const result = await rebuild().finally(() => {
      done = true;
    });
    await Promise.all(readers);

    expect(outcomes.failed).toEqual([]);
    expect(outcomes.empty).toBe(0);
    expect(outcomes.ok).toBeGreaterThan(20);
    expect(result.position).toBe(N);
    expect(await allRows()).toEqual(snapshot);
  });

  it('(c) events appended during the rebuild end up in the tables; the live projector carries on', async () => {
    const projector = startProjector({ db: t.db, store, projections: allProjections, logger: quiet });
    await projector.caughtUp(N);
    const late = Array.from({ length: 30 }, (_, i) => `late${i}`);
    let appendedDuringFold = 0;
    let stopAppending = false;
    const trickle = (async () => {
      for (let i = 0; !stopAppending; i += 1) {
        await store.append(step(`trickle${i}`, 1, 1));
        await new Promise((r) => setTimeout(r, 2));
      }
    })();

    const result = await rebuild({
      onProgress: (p) => {
        if (p.phase === 'fold' && appendedDuringFold === 0) {
          appendedDuringFold = late.length * 3;
          void appendDemoHistories(store, late, 3, { step });
        }
      },
    });
    stopAppending = true;
    await trickle;
    const last = await store.lastPosition();

    // Everything in the store when the swap began is in the rebuilt tables.
    expect(result.position).toBeGreaterThanOrEqual(N + appendedDuringFold);
    expect(result.events).toBe(result.position);
    const { count } = await t.db
      .selectFrom('actor_transition')
      .where('position', '<=', result.position)
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow();
    expect(count).toBe(result.position);
    for (const id of late) expect(await getActorStatus(t.db, 'demo', id)).toMatchObject({ version: 3, final: true });

    // What came after the swap is the live projector's, which resumes from the moved checkpoint.
    await projector.caughtUp(last);
    await projector.stop();
    const rows = await allRows();
    expect(rows.transitions.map((r) => r.position)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    const heads = new Map<string, number>();
    for await (const head of store.readHeads()) heads.set(head.actorId, head.version);
    expect(new Map(rows.status.map((r) => [r.id, r.version]))).toEqual(heads);
    expect(await readCheckpoint(t.db, 'daqflow-projector')).toBe(last);
  });

  it('(d) also recreates projection_checkpoint when it is missing', async () => {
    await sql`drop table projection_checkpoint`.execute(t.db);
    const result = await rebuild();
    expect(await readCheckpoint(t.db, 'daqflow-projector')).toBe(result.position);
    expect((await allRows()).transitions).toHaveLength(result.position);
  });

  it('leaves the live tables alone and drops the shadow when preparing the schema fails', async () => {
    const before = await allRows();
    await expect(
      rebuild({
        prepareSchema: async (schema) => {
          await migrateToLatest(t.db, { schema });
          await sql`drop table ${sql.id(schema, 'actor_status')}`.execute(t.db);
        },
      }),
    ).rejects.toThrow(/did not create daqflow_rebuild_\w+\.actor_status/);
    expect(await allRows()).toEqual(before);
    expect(await shadowSchemas()).toEqual([]);
  });
});
