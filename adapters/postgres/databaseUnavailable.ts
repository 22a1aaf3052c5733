import { StoreUnavailableError } from '../../events/errors.js';

// SQLSTATE classes and codes that mean "the server is not there right now", not "the query is
// wrong": connection exceptions (08), operator intervention (57P01 admin shutdown, 57P02 crash
// shutdown, 57P03 cannot connect now) and insufficient resources such as too many connections (53).
const UNAVAILABLE_SQLSTATES = /^(08...|57P0[123]|53...)$/;
// What node's net layer and pg say when there is no server or the socket was cut.
const UNAVAILABLE_SYSCALL_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
  'the database system is starting up',
  'the database system is shutting down',
];

/**
 * True when `e` (or an error in its `cause` chain) says PostgreSQL could not be reached or went
 * away, rather than that a statement failed: such work is worth retrying once it is back.
 */
export const isDatabaseUnavailable = (e: unknown): boolean => {
  for (let current: unknown = e, depth = 0; current && depth < 5; current = (current as { cause?: unknown }).cause, depth++) {
    if (typeof current !== 'object') return false;
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && (UNAVAILABLE_SQLSTATES.test(code) || UNAVAILABLE_SYSCALL_CODES.has(code))) return true;
    if (typeof message === 'string' && UNAVAILABLE_MESSAGES.some((m) => message.includes(m))) return true;
    if (current instanceof AggregateError && current.errors.some(isDatabaseUnavailable)) return true;
  }
  return false;
};

/**
 * Runs `work`; a database that is not there becomes a StoreUnavailableError (retryable at the
 * API, docs/api.md) naming the setting to check. Every other error passes unchanged.
 */
export const orStoreUnavailable = async <T>(work: () => Promise<T>): Promise<T> => {
  try {
    return await work();
  } catch (e) {
    if (!isDatabaseUnavailable(e)) throw e;
    const detail = e instanceof Error ? e.message : String(e);
    throw new StoreUnavailableError(
      `PostgreSQL is not reachable (${detail}); the projections answer again once it is back (check DAQFLOW_DATABASE_URL)`,
      { cause: e },
    );
  }
};
