import { randomUUID } from 'node:crypto';
import type { ServiceMsg } from '@nats-io/services';
import type { Logger } from '../../actors/runtime/logger.js';
import { isDaqflowError, type ErrorCode } from '../../events/errors.js';

/** The status numbers the NATS request API contract allows in `Nats-Service-Error-Code`. */
export type ApiStatus = 400 | 404 | 409 | 500;

/**
 * The one place where daqflow error codes become service error codes. It is a full Record so
 * that a new ErrorCode does not compile until someone decides its reply here.
 *
 * STORE_UNAVAILABLE is 503 inside daqflow but the API contract (docs/api.md) names only 400/404/409/500,
 * so clients see 500 with `code: "STORE_UNAVAILABLE"` and `details.retryable: true`: the status
 * set stays closed and the body still tells a retrying client what happened.
 */
export const apiErrorTable: Readonly<Record<ErrorCode, { readonly status: ApiStatus; readonly retryable: boolean }>> = {
  INVALID_REQUEST: { status: 400, retryable: false },
  VALIDATION_FAILED: { status: 400, retryable: false },
  UNKNOWN_ACTOR: { status: 404, retryable: false },
  UNKNOWN_ACTOR_KIND: { status: 404, retryable: false },
  WRONG_STATE: { status: 409, retryable: false },
  VERSION_CONFLICT: { status: 409, retryable: true },
  DUPLICATE: { status: 409, retryable: false },
  // Both arise where daqflow is a client of NATS (a login, a publish the server refused, a
  // stream that differs), not in a handler; were one to reach a reply, the server is at fault.
  PERMISSION_DENIED: { status: 500, retryable: false },
  STREAM_MISMATCH: { status: 500, retryable: false },
  PROJECTIONS_BEHIND: { status: 409, retryable: true },
  STORE_UNAVAILABLE: { status: 500, retryable: true },
  REPLAY_INCOMPATIBLE: { status: 500, retryable: false },
  INTERNAL: { status: 500, retryable: false },
};

/** The body of every failed reply: `{"error":{"code","message","details"}}`. */
export interface ApiErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly details: Record<string, unknown> };
}

/** A failed request's reply: the service error status and the JSON body. */
export interface ApiErrorReply {
  readonly status: ApiStatus;
  readonly body: ApiErrorBody;
}

/**
 * Turns anything thrown by a handler into its reply. Only DaqflowErrors speak for themselves;
 * anything else is a bug or a library failure whose message and stack may carry internals, so
 * the client gets a generic message plus an `errorId` that finds the full error in the log.
 */
export const toErrorReply = (e: unknown, logger: Logger, context: Record<string, unknown> = {}): ApiErrorReply => {
  if (isDaqflowError(e)) {
    const row = apiErrorTable[e.code] ?? apiErrorTable.INTERNAL;
    const details: Record<string, unknown> = row.retryable ? { ...e.details, retryable: true } : { ...e.details };
    if (row.status === 500) {
      const errorId = randomUUID();
      logger.error({ err: e, errorId, ...context }, `request failed: ${e.code}`);
      details.errorId = errorId;
    } else {
      logger.debug({ code: e.code, message: e.message, ...context }, 'request refused');
    }
    return { status: row.status, body: { error: { code: e.code, message: e.message, details } } };
  }
  const errorId = randomUUID();
  logger.error({ err: e, errorId, ...context }, 'request failed with an unexpected error');
  return {
    status: 500,
    body: { error: { code: 'INTERNAL', message: 'internal error', details: { errorId } } },
  };
};

// Header values may not hold CR or LF (nats.js throws), and a header is no place for a novel.
const headerText = (message: string): string => {
  const line = message.replace(/[\r\n]+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 297)}...` : line || 'error';
};

// pg returns int8 as string but a driver or projection might hand over a bigint; JSON.stringify
// throws on those, and a query reply should not fail for it.
const jsonReplacer = (_key: string, value: unknown): unknown => (typeof value === 'bigint' ? value.toString() : value);

/** Serializes a reply body; bigints become strings. */
export const encodeJson = (value: unknown): string => JSON.stringify(value, jsonReplacer);

/**
 * Sends an error reply with the service error headers. Returns false when it could not be sent
 * (no reply subject, or the connection is gone); it never throws.
 */
export const respondWithError = (msg: ServiceMsg, reply: ApiErrorReply, logger: Logger): boolean => {
  try {
    let body: string;
    try {
      body = encodeJson(reply.body);
    } catch {
      // Details that do not serialize (a cycle) must not cost the client its answer.
      const { code, message } = reply.body.error;
      body = encodeJson({ error: { code, message, details: {} } });
    }
    return msg.respondError(reply.status, headerText(reply.body.error.message), body);
  } catch (e) {
    logger.error({ err: e, subject: msg.subject }, 'error reply could not be sent');
    return false;
  }
};
