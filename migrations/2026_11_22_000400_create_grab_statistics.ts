import type { Kysely } from 'kysely';

// One row per grab run and parameter, from the run's fileWritten event. Every column comes from
// the event (recorded_at is the event's time, never now()), so a rebuild yields the same rows.
// first_time/last_time are UTC seconds as the event carries them: double precision keeps every
// JavaScript number exactly.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('grab_statistics')
    .addColumn('run_id', 'text', (col) => col.notNull())
    .addColumn('parameter', 'text', (col) => col.notNull())
    .addColumn('units', 'text')
    .addColumn('window_start', 'timestamptz', (col) => col.notNull())
    .addColumn('window_stop', 'timestamptz', (col) => col.notNull())
    .addColumn('output_file', 'text', (col) => col.notNull())
    .addColumn('count', 'bigint', (col) => col.notNull())
    .addColumn('nan_count', 'bigint', (col) => col.notNull())
    .addColumn('min', 'double precision')
    .addColumn('max', 'double precision')
    .addColumn('mean', 'double precision')
    .addColumn('std', 'double precision')
    .addColumn('mode', 'double precision')
    .addColumn('first_time', 'double precision')
    .addColumn('last_time', 'double precision')
    .addColumn('interval_count', 'bigint', (col) => col.notNull())
    .addColumn('interval_nan_count', 'bigint', (col) => col.notNull())
    .addColumn('interval_min', 'double precision')
    .addColumn('interval_max', 'double precision')
    .addColumn('interval_mean', 'double precision')
    .addColumn('interval_std', 'double precision')
    .addColumn('interval_mode', 'double precision')
    .addColumn('recorded_at', 'timestamptz', (col) => col.notNull())
    .addColumn('position', 'bigint', (col) => col.notNull())
    .addPrimaryKeyConstraint('grab_statistics_pkey', ['run_id', 'parameter'])
    .execute();
  // A parameter's statistics over time: the export and `query.stats {parameter, from, to}`.
  await db.schema
    .createIndex('grab_statistics_parameter_window_start_idx')
    .on('grab_statistics')
    .columns(['parameter', 'window_start'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('grab_statistics').ifExists().execute();
}
