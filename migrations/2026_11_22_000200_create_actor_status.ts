import type { Kysely } from 'kysely';

// Every time column is filled from event times, never now(), so a rebuild yields the same rows.

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('actor_status')
    .addColumn('kind', 'text', (col) => col.notNull())
    .addColumn('id', 'text', (col) => col.notNull())
    .addColumn('state', 'text', (col) => col.notNull())
    .addColumn('final', 'boolean', (col) => col.notNull())
    .addColumn('version', 'integer', (col) => col.notNull())
    .addColumn('position', 'bigint', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull())
    .addColumn('last_event_type', 'text', (col) => col.notNull())
    .addColumn('correlation_id', 'text', (col) => col.notNull())
    .addColumn('summary', 'jsonb', (col) => col.notNull())
    .addPrimaryKeyConstraint('actor_status_pkey', ['kind', 'id'])
    .execute();
  await db.schema.createIndex('actor_status_state_idx').on('actor_status').column('state').execute();
  await db.schema
    .createIndex('actor_status_updated_at_idx')
    .on('actor_status')
    .column('updated_at desc')
    .execute();
  await db.schema.createIndex('actor_status_id_idx').on('actor_status').column('id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('actor_status').ifExists().execute();
}
