/**
 * Errors of the data-logger sources. Every failure a source reports is a `DataLoggerError`: a
 * `DaqflowError` whose `code` is `VALIDATION_FAILED` (the request itself is wrong: asking again
 * gives the same answer) or `STORE_UNAVAILABLE` (the data logger could not answer), with a finer
 * `reason` and a `retryable` flag. The grab actor retries the retryable ones with backoff and
 * fails the parameter on the others.
 */
import { DaqflowError, type ErrorCode } from '../../events/errors.js';

/** Why a data-logger request failed. */
export type DataLoggerFailure =
  /** The data logger does not know the parameter (the appliance's 404). */
  | 'UNKNOWN_PARAMETER'
  /** The data logger refused the request as malformed (the appliance's 400: its message is kept). */
  | 'BAD_REQUEST'
  /** The time window is not a window: an invalid date, or `from` after `to`. */
  | 'BAD_WINDOW'
  /** The parameter's samples are arrays (a waveform); only scalars are supported. */
  | 'NOT_SCALAR'
  /** Connection refused or reset, 5xx, 408, 429: try again later. */
  | 'UNAVAILABLE'
  /** No complete answer within the time limit. */
  | 'TIMEOUT'
  /** The data logger refused us (401, 403, other 4xx): a configuration matter, not a passing one. */
  | 'REFUSED'
  /** An answer that is not the expected format, or larger than the configured limit. */
  | 'BAD_RESPONSE';

const codes: Record<DataLoggerFailure, { code: ErrorCode; retryable: boolean }> = {
  UNKNOWN_PARAMETER: { code: 'VALIDATION_FAILED', retryable: false },
  BAD_REQUEST: { code: 'VALIDATION_FAILED', retryable: false },
  BAD_WINDOW: { code: 'VALIDATION_FAILED', retryable: false },
  NOT_SCALAR: { code: 'VALIDATION_FAILED', retryable: false },
  UNAVAILABLE: { code: 'STORE_UNAVAILABLE', retryable: true },
  TIMEOUT: { code: 'STORE_UNAVAILABLE', retryable: true },
  REFUSED: { code: 'STORE_UNAVAILABLE', retryable: false },
  BAD_RESPONSE: { code: 'STORE_UNAVAILABLE', retryable: false },
};

/** A data-logger request that failed; `retryable` says whether asking again later may succeed. */
export class DataLoggerError extends DaqflowError {
  override readonly name = 'DataLoggerError';
  readonly reason: DataLoggerFailure;
  readonly retryable: boolean;
  /** The parameter asked for, when the failure concerns one. */
  readonly parameter: string | undefined;

  constructor(
    reason: DataLoggerFailure,
    message: string,
    details: { parameter?: string; status?: number; [key: string]: unknown } = {},
    options?: ErrorOptions,
  ) {
    const { code, retryable } = codes[reason];
    super(code, message, { reason, retryable, ...details }, options);
    this.reason = reason;
    this.retryable = retryable;
    this.parameter = details.parameter;
  }
}

export const isDataLoggerError = (e: unknown): e is DataLoggerError => e instanceof DataLoggerError;

/** True for a failure worth retrying later (a `DataLoggerError` with `retryable`). */
export const isRetryable = (e: unknown): boolean => isDataLoggerError(e) && e.retryable;

/** The same error from every source for a parameter it does not know. */
export const unknownParameter = (parameter: string, source: string, detail?: string): DataLoggerError =>
  new DataLoggerError(
    'UNKNOWN_PARAMETER',
    `${source} does not know the parameter ${JSON.stringify(parameter)}${detail ? `: ${detail}` : ''}`,
    { parameter },
  );
