import { jetstream } from '@nats-io/jetstream';
import { sql } from 'kysely';
import type pg from 'pg';
import { createJetStreamEventStore } from '../adapters/jetstream/jetstreamEventStore.js';
import type { EventStreamNames } from '../adapters/jetstream/eventStream.js';
import { actorSubject } from '../adapters/jetstream/subjects.js';
import { migrateToLatest } from '../adapters/postgres/migrate.js';
import type { RecordedEvent } from '../events/envelope.js';
import { applyProjections } from '../projections/projection.js';
import { allProjections } from '../adapters/jobs/registry.js';
import { rebuildProjections } from '../projections/replay.js';
import { demoHistories, interleave, payloadOf, recorded } from './history.js';
import type { Log, Measured } from './result.js';
import { deleteStream, freshStreamNames, recreateStream, type BenchServers } from './servers.js';
import { fmt, median, pairedRatio, pool } from './stats.js';

export interface RebuildBenchOptions {
  readonly events: number;
  readonly actors: number;
  readonly repeat: number;
  /** Events per read and per transaction, as rebuildProjections defaults to. */
  readonly batchSize: number;
}

/** Fills a fresh stream with the events (as the store writes them) and returns them as read back. */
const fillStream = async (servers: BenchServers, names: EventStreamNames, actors: number, perActor: number): Promise<RecordedEvent[]> => {
  await recreateStream(servers.jsm, names);
  const events = interleave(demoHistories(actors, perActor));
  const js = jetstream(servers.nc, { timeout: 30_000 });
  // Published one after another in flight on one connection: stored in this order.
  await pool(events, 256, async (event) => {
    await js.publish(actorSubject(names.subjectPrefix, event.actorKind, event.actorId), payloadOf(event));
  });
  return recorded(events);
};

interface RebuildRun {
  readonly events: number;
  readonly ms: number;
  readonly prepareMs: number;
  readonly foldMs: number;
  readonly swapMs: number;
}

/** rebuildProjections over the whole stream, as `daqflow replay projections` runs it. */
const daqflowRebuild = async (servers: BenchServers, names: EventStreamNames, batchSize: number): Promise<RebuildRun> => {
  const store = createJetStreamEventStore({ nc: servers.nc, ...names });
  let prepareMs = 0;
  let foldEnd = 0;
  const started = performance.now();
  const result = await rebuildProjections({
    db: servers.db,
    store,
    projections: allProjections,
    batchSize,
    prepareSchema: async (schema) => {
      const t = performance.now();
      await migrateToLatest(servers.db, { schema });
      prepareMs = performance.now() - t;
    },
    onProgress: (p) => {
      if (p.phase === 'fold') foldEnd = performance.now();
    },
  });
  const ms = performance.now() - started;
  await store.close();
  const foldMs = foldEnd - started - prepareMs;
  return { events: result.events, ms, prepareMs, foldMs, swapMs: ms - prepareMs - foldMs };
};

/** store.readAll alone: JetStream read + JSON + zod decode, no PostgreSQL. Events per second. */
const readAllRate = async (servers: BenchServers, names: EventStreamNames, batchSize: number): Promise<number> => {
  const store = createJetStreamEventStore({ nc: servers.nc, ...names });
  let n = 0;
  const started = performance.now();
  for await (const batch of store.readAll({ from: 1, batchSize })) n += batch.length;
  const seconds = (performance.now() - started) / 1000;
  await store.close();
  return n / seconds;
};

/**
 * The projections' own apply (kysely, row building) over the events already in memory, with
 * the rebuild's batching and transactions, into freshly migrated tables: the rebuild minus the
 * JetStream read and decode. Events per second; the schema setup is not timed.
 */
const daqflowApplyRate = async (servers: BenchServers, events: readonly RecordedEvent[], batchSize: number, run: number): Promise<number> => {
  const schema = `bench_apply_${run}`;
  await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(servers.db);
  await sql`create schema ${sql.id(schema)}`.execute(servers.db);
  await migrateToLatest(servers.db, { schema });
  try {
    const started = performance.now();
    for (let i = 0; i < events.length; i += batchSize) {
      const batch = events.slice(i, i + batchSize);
      await servers.db.transaction().execute(async (trx) => {
        await sql`set local synchronous_commit = off`.execute(trx);
        await applyProjections(trx.withSchema(schema), allProjections, batch);
      });
    }
    return events.length / ((performance.now() - started) / 1000);
  } finally {
    await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(servers.db);
  }
};

/** The parameters of the multi-row statements: the very rows the two projections write. */
interface BatchRows {
  readonly status: unknown[];
  readonly statusCount: number;
  readonly transition: unknown[];
  readonly transitionCount: number;
}

const batchRowsOf = (batch: readonly RecordedEvent[]): BatchRows => {
  // actor_status: one row per actor and batch (the newest event, created_at from the oldest).
  const byActor = new Map<string, { first: RecordedEvent; last: RecordedEvent }>();
  for (const e of batch) {
    const key = `${e.actorKind}\u0000${e.actorId}`;
    const seen = byActor.get(key);
    if (!seen) byActor.set(key, { first: e, last: e });
    else {
      if (e.version < seen.first.version) seen.first = e;
      if (e.version > seen.last.version) seen.last = e;
    }
  }
  const actors = [...byActor.values()].sort((a, b) => (a.last.actorId < b.last.actorId ? -1 : 1));
  const status: unknown[] = [];
  for (const { first, last } of actors) {
    status.push(
      last.actorKind,
      last.actorId,
      last.state,
      last.final,
      last.version,
      last.position,
      first.time,
      last.time,
      last.type,
      last.correlationId,
      JSON.stringify(last.summary),
    );
  }
  const transition: unknown[] = [];
  for (const e of batch) {
    transition.push(
      e.position,
      e.actorKind,
      e.actorId,
      e.version,
      e.type,
      e.previousState,
      e.state,
      e.final,
      e.time,
      e.correlationId,
      e.causationId,
      e.commandId,
      JSON.stringify(e.data ?? null),
    );
  }
  return { status, statusCount: actors.length, transition, transitionCount: batch.length };
};

const placeholders = (rows: number, columns: number): string => {
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    const cells: string[] = [];
    for (let c = 1; c <= columns; c++) cells.push(`$${r * columns + c}`);
    out.push(`(${cells.join(',')})`);
  }
  return out.join(',');
};

/**
 * The raw baseline: the same actor_status and actor_transition rows, already built in memory,
 * written with one multi-row INSERT … ON CONFLICT per table and batch, one transaction per
 * batch (synchronous_commit off, as the rebuild's shadow transactions), through pg directly,
 * into freshly migrated empty tables. Events per second; the schema setup is not timed.
 */
export const rawUpsertRate = async (servers: BenchServers, events: readonly RecordedEvent[], batchSize: number, run: number): Promise<number> => {
  const schema = `bench_raw_${run}`;
  await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(servers.db);
  await sql`create schema ${sql.id(schema)}`.execute(servers.db);
  await migrateToLatest(servers.db, { schema });
  const batches: BatchRows[] = [];
  for (let i = 0; i < events.length; i += batchSize) batches.push(batchRowsOf(events.slice(i, i + batchSize)));
  const status = `insert into ${schema}.actor_status (kind, id, state, final, version, position, created_at, updated_at, last_event_type, correlation_id, summary) values `;
  const statusConflict = ` on conflict (kind, id) do update set state = excluded.state, final = excluded.final, version = excluded.version, position = excluded.position, updated_at = excluded.updated_at, last_event_type = excluded.last_event_type, correlation_id = excluded.correlation_id, summary = excluded.summary where ${schema}.actor_status.version < excluded.version`;
  const transition = `insert into ${schema}.actor_transition (position, kind, id, version, type, previous_state, state, final, time, correlation_id, causation_id, command_id, data) values `;
  const statements = batches.map((b) => ({
    status: { text: status + placeholders(b.statusCount, 11) + statusConflict, values: b.status },
    transition: { text: `${transition}${placeholders(b.transitionCount, 13)} on conflict do nothing`, values: b.transition },
  }));
  const client: pg.PoolClient = await servers.pool.connect();
  try {
    const started = performance.now();
    for (const s of statements) {
      await client.query('begin');
      await client.query('set local synchronous_commit = off');
      await client.query(s.status);
      await client.query(s.transition);
      await client.query('commit');
    }
    const seconds = (performance.now() - started) / 1000;
    const { rows } = await client.query<{ n: string }>(`select count(*) as n from ${schema}.actor_transition`);
    if (Number(rows[0]?.n) !== events.length) throw new Error(`raw upsert wrote ${rows[0]?.n} rows, expected ${events.length}`);
    return events.length / seconds;
  } finally {
    client.release();
    await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(servers.db);
  }
};

/** rebuildProjections over N events against the raw batched upsert of the rows it writes. */
export const runRebuildBench = async (servers: BenchServers, options: RebuildBenchOptions, log: Log): Promise<Measured> => {
  const { events, actors, repeat, batchSize } = options;
  const perActor = Math.max(1, Math.round(events / actors));
  const names = freshStreamNames('rebuild');
  log(`rebuild: filling a stream with ${actors * perActor} events (${actors} actors x ${perActor})`);
  const stored = await fillStream(servers, names, actors, perActor);

  log('rebuild: warm-up');
  const warmNames = freshStreamNames('rebuild_warm');
  const warmActors = Math.max(1, Math.ceil(actors / 10));
  const warmEvents = await fillStream(servers, warmNames, warmActors, perActor);
  await daqflowRebuild(servers, warmNames, batchSize);
  await rawUpsertRate(servers, warmEvents, batchSize, 0);
  await readAllRate(servers, warmNames, batchSize);
  await daqflowApplyRate(servers, warmEvents, batchSize, 0);
  await deleteStream(servers.jsm, warmNames);

  const runs: RebuildRun[] = [];
  const rawRates: number[] = [];
  const readRates: number[] = [];
  const applyRates: number[] = [];
  for (let rep = 0; rep < repeat; rep++) {
    const order = rep % 2 === 0 ? (['raw', 'daqflow'] as const) : (['daqflow', 'raw'] as const);
    for (const path of order) {
      if (path === 'raw') rawRates.push(await rawUpsertRate(servers, stored, batchSize, rep + 1));
      else {
        const run = await daqflowRebuild(servers, names, batchSize);
        if (run.events !== stored.length) throw new Error(`rebuild applied ${run.events} events, expected ${stored.length}`);
        runs.push(run);
      }
    }
    readRates.push(await readAllRate(servers, names, batchSize));
    applyRates.push(await daqflowApplyRate(servers, stored, batchSize, rep + 1));
    const last = runs.at(-1)!;
    log(`rebuild: run ${rep + 1}/${repeat}: daqflow ${Math.round(last.events / (last.ms / 1000))}/s, raw ${Math.round(rawRates.at(-1)!)}/s`);
  }
  await deleteStream(servers.jsm, names);

  const rates = runs.map((r) => r.events / (r.ms / 1000));
  const rate = median(rates);
  const rawRate = median(rawRates);
  const ratio = pairedRatio(rates, rawRates);
  const readRate = median(readRates);
  const applyRate = median(applyRates);
  return {
    rows: [
      {
        key: 'rebuild.rate',
        measurement: `projection rebuild, ${stored.length} events (${actors} actors)`,
        daqflow: rate,
        baseline: rawRate,
        ratio,
        unit: 'ev/s',
        baselineLabel: 'raw pg multi-row upsert',
        target: '>= 0.5',
        result: ratio >= 0.5 ? 'PASS' : 'MISS',
      },
      {
        key: 'rebuild.readAll',
        measurement: '  part: store.readAll alone (read + decode)',
        daqflow: readRate,
        baseline: null,
        ratio: null,
        unit: 'ev/s',
        baselineLabel: '',
        target: '-',
        result: 'INFO',
      },
      {
        key: 'rebuild.apply',
        measurement: '  part: projections apply alone (kysely, in memory)',
        daqflow: applyRate,
        baseline: rawRate,
        ratio: pairedRatio(applyRates, rawRates),
        unit: 'ev/s',
        baselineLabel: 'raw pg multi-row upsert',
        target: '-',
        result: 'INFO',
      },
    ],
    notes: [
      `rebuild phases (median): prepare shadow schema ${fmt(median(runs.map((r) => r.prepareMs)))} ms, fold ${fmt(median(runs.map((r) => r.foldMs)))} ms, catch-up + swap ${fmt(median(runs.map((r) => r.swapMs)))} ms`,
    ],
    details: {
      events: stored.length,
      actors,
      batchSize,
      daqflowRates: rates,
      rawRates,
      readAllRates: readRates,
      applyRates,
      phasesMs: runs.map(({ prepareMs, foldMs, swapMs, ms }) => ({ prepareMs, foldMs, swapMs, totalMs: ms })),
    },
  };
};
