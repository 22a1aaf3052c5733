import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from '../../projections/database.js';

export interface CreateDbOptions {
  /** Pool size (default 10). */
  readonly max?: number;
  /** Called when an idle pooled connection fails (server restart, terminated backend). */
  readonly onIdleError?: (error: Error) => void;
}

const INT8_OID = 20;

// Positions and counts are int8; they stay far below 2^53, so numbers are safe and much easier
// to compare than the strings pg returns by default. A value past that fails loudly instead of
// silently losing precision.
const parseInt8 = (value: string): number => {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${value} exceeds 2^53`);
  return n;
};

// Set on this pool's clients only, so other pg users in the process keep the library defaults.
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? parseInt8
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/** A Kysely handle over its own pg pool; int8 columns come back as numbers. */
export const createDb = (url: string, options: CreateDbOptions = {}): Kysely<Database> => {
  const pool = new pg.Pool({ connectionString: url, max: options.max ?? 10, types });
  // Without a listener an idle client's error is an unhandled 'error' event and kills the process.
  pool.on('error', options.onIdleError ?? (() => undefined));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
};
