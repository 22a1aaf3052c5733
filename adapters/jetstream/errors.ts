import {
  ClosedConnectionError,
  ConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from '@nats-io/transport-node';
import { JetStreamApiCodes, JetStreamApiError, JetStreamError } from '@nats-io/jetstream';
import { DaqflowError, StoreUnavailableError } from '../../events/errors.js';

/** Whether the server refused a publish because the subject's last sequence moved on. */
export const isWrongLastSequence = (error: unknown): boolean =>
  error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamWrongLastSequence;

/** Whether the error says the server (or JetStream on it) cannot be reached right now. */
export const isUnreachable = (error: unknown): boolean =>
  error instanceof ConnectionError ||
  error instanceof TimeoutError ||
  error instanceof NoRespondersError ||
  error instanceof RequestError ||
  error instanceof ClosedConnectionError ||
  error instanceof DrainingConnectionError ||
  // The client raises this when nobody answers on the JetStream API or on a publish subject
  // (no stream, JetStream off); the class is not exported by the package, hence the name test.
  (error instanceof Error && error.name === 'JetStreamNotEnabled');

/**
 * Turns an error thrown by the NATS client into the port's vocabulary, so callers never see
 * client classes: anything about reaching the server or JetStream becomes StoreUnavailableError.
 * (A wrong last sequence is mapped by appendToStream, which knows the actor and versions.)
 * Errors that are ours already, or programming errors, pass through untouched.
 */
export const toStoreError = (error: unknown, operation: string): unknown => {
  if (error instanceof DaqflowError) return error;
  if (isUnreachable(error)) {
    const detail = error instanceof Error ? error.message : String(error);
    return new StoreUnavailableError(`event store unavailable during ${operation}: ${detail}`, {
      cause: error,
    });
  }
  // The server's own refusals (stream not found, limits, bad config) mean the store refused
  // for a reason of its own, which the port also calls unavailable.
  if (error instanceof JetStreamApiError || error instanceof JetStreamError) {
    return new StoreUnavailableError(`event store refused ${operation}: ${error.message}`, {
      cause: error,
    });
  }
  return error;
};
