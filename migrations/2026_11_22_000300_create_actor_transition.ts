import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('actor_transition')
    .addColumn('position', 'bigint', (col) => col.primaryKey())
    .addColumn('kind', 'text', (col) => col.notNull())
    .addColumn('id', 'text', (col) => col.notNull())
    .addColumn('version', 'integer', (col) => col.notNull())
    .addColumn('type', 'text', (col) => col.notNull())
    .addColumn('previous_state', 'text')
    .addColumn('state', 'text', (col) => col.notNull())
    .addColumn('final', 'boolean', (col) => col.notNull())
    .addColumn('time', 'timestamptz', (col) => col.notNull())
    .addColumn('correlation_id', 'text', (col) => col.notNull())
    .addColumn('causation_id', 'text')
    .addColumn('command_id', 'text')
    .addColumn('data', 'jsonb', (col) => col.notNull())
    .addUniqueConstraint('actor_transition_kind_id_version_key', ['kind', 'id', 'version'])
    .execute();
  // (id, version) rather than (id) alone: history is read by id and ordered by version.
  await db.schema
    .createIndex('actor_transition_id_version_idx')
    .on('actor_transition')
    .columns(['id', 'version'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('actor_transition').ifExists().execute();
}
