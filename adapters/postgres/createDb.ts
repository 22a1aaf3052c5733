import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from '../../projections/database.js';
import { databaseRefusal } from './databaseRefusal.js';

export interface CreateDbOptions {
  /** Pool size (default 10). */
  readonly max?: number;
  /**
   * Called when a pooled connection fails outside a query (server restart, terminated backend),
   * idle or checked out. The pool drops that connection and opens a new one when next needed.
   */
  readonly onConnectionError?: (error: Error) => void;
  /** How long getting a connection may take before the query fails (default 5000 ms). */
  readonly connectionTimeoutMs?: number;
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

/**
 * pg leaves the socket of a client that failed while logging in open (a password the client
 * could not give, mid-SCRAM) until the server's authentication_timeout, a minute by default,
 * and the pool never ends such a client: the process could not exit. Ended here.
 */
class EndedOnFailureClient extends pg.Client {
  override connect(): Promise<pg.Client>;
  override connect(callback: ((err: Error) => void) | ((err: null, c: pg.Client) => void)): void;
  override connect(callback?: ((err: Error) => void) | ((err: null, c: pg.Client) => void)): Promise<pg.Client> | void {
    if (!callback) return super.connect();
    const done = callback as (err: Error | null, c?: pg.Client) => void;
    super.connect((err: Error | null) => {
      if (err) void this.end().catch(() => undefined);
      done(err, this);
    });
  }
}

/**
 * A Kysely handle over its own pg pool; int8 columns come back as numbers. A connection the
 * server or the client refuses for a setting fails with DatabaseSettingError naming it.
 */
export const createDb = (url: string, options: CreateDbOptions = {}): Kysely<Database> => {
  const pool = new pg.Pool({
    connectionString: url,
    Client: EndedOnFailureClient,
    max: options.max ?? 10,
    types,
    // Without a bound a query waits forever for a server that is not coming back.
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5_000,
  });
  const onError = options.onConnectionError ?? (() => undefined);
  // pg emits 'error' on a client whose connection ends between queries: on an idle client the
  // pool's listener takes it, but a checked-out one (a transaction waiting on other work) has
  // none of its own, and an 'error' event without a listener ends the process.
  pool.on('error', onError);
  pool.on('connect', (client) => {
    client.on('error', onError);
  });
  // A refused password or certificate fails with the setting to mend, not pg's bare words.
  const connect = async (): Promise<pg.PoolClient> => {
    try {
      return await pool.connect();
    } catch (e) {
      throw databaseRefusal(e, url) ?? e;
    }
  };
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: { connect, end: () => pool.end() } }) });
};
