import {
  ClosedConnectionError,
  ConnectionError,
  DrainingConnectionError,
  NoRespondersError,
  PermissionViolationError,
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
  const violation = error instanceof PermissionViolationError ? error : (error as { cause?: unknown } | undefined)?.cause;
  if (violation instanceof PermissionViolationError) {
    return new NatsPermissionError(violation.subject, violation.operation === 'subscription' ? 'subscription' : 'publish', 'of this connection', { cause: error });
  }
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

/** The NATS setting that a refusal is about, as its environment variable names it. */
export const natsSettingNames = {
  url: 'DAQFLOW_NATS_URL',
  user: 'DAQFLOW_NATS_USER/DAQFLOW_NATS_PASSWORD',
  token: 'DAQFLOW_NATS_TOKEN',
  nkey: 'DAQFLOW_NATS_NKEY',
  creds: 'DAQFLOW_NATS_CREDS',
  tlsCa: 'DAQFLOW_NATS_TLSCA',
  tlsCert: 'DAQFLOW_NATS_TLSCERT',
  tlsKey: 'DAQFLOW_NATS_TLSKEY',
  tlsRequired: 'DAQFLOW_NATS_TLS_REQUIRED',
} as const;

export type NatsSetting = keyof typeof natsSettingNames;

/**
 * The connection to NATS failed because of a setting: a file that cannot be read, a login the
 * server refused, a certificate one side does not trust. `setting` names it; retrying does
 * not help until the setting changes.
 */
export class NatsSettingError extends DaqflowError {
  override readonly name = 'NatsSettingError';
  constructor(
    readonly setting: NatsSetting,
    message: string,
    options?: ErrorOptions,
  ) {
    super(setting === 'user' || setting === 'token' || setting === 'nkey' || setting === 'creds' ? 'PERMISSION_DENIED' : 'VALIDATION_FAILED', message, { setting: natsSettingNames[setting] }, options);
  }
}

/** The server refused a publish or subscribe of this connection's user. */
export class NatsPermissionError extends DaqflowError {
  override readonly name = 'NatsPermissionError';
  constructor(
    readonly subject: string,
    readonly operation: 'publish' | 'subscription',
    readonly user: string,
    options?: ErrorOptions,
  ) {
    super(
      'PERMISSION_DENIED',
      `permission denied for ${subject}: the user ${user} may not ${operation === 'publish' ? 'publish' : 'subscribe'} there`,
      { subject, operation, user },
      options,
    );
  }
}

/** One setting in which the event stream on the server differs from daqflow's. */
export interface StreamDifference {
  /** The field of the stream configuration, as JetStream names it. */
  readonly field: string;
  readonly have: unknown;
  readonly want: unknown;
  /** Whether daqflow depends on it (it refuses the stream) or leaves the operator's value. */
  readonly needed: boolean;
}

/** The event stream exists but differs in something daqflow depends on; nothing was changed. */
export class StreamMismatchError extends DaqflowError {
  override readonly name = 'StreamMismatchError';
  constructor(
    readonly stream: string,
    readonly differences: readonly StreamDifference[],
  ) {
    const listed = differences.map((d) => `${d.field} is ${JSON.stringify(d.have)}, daqflow needs ${JSON.stringify(d.want)}`).join('; ');
    super(
      'STREAM_MISMATCH',
      `stream ${stream} differs from what daqflow needs: ${listed}. Nothing was changed; \`daqflow stream check\` shows it, \`daqflow stream apply\` changes it`,
      { stream, differences },
    );
  }
}

/**
 * JetStream could not place the replicas asked for (a stream or a KV bucket): a single server
 * takes only 1, a cluster at most as many as it has JetStream servers up. `clustered` says
 * which: on a cluster it may pass once the missing servers join.
 */
export class ReplicasRefusedError extends DaqflowError {
  override readonly name = 'ReplicasRefusedError';
  constructor(
    /** What was being created, e.g. `stream DAQFLOW_EVENTS`. */
    readonly what: string,
    readonly replicas: number,
    readonly clustered: boolean,
    /** The servers of the cluster the client was told of, when it was. */
    readonly servers: number | undefined,
    options?: ErrorOptions,
  ) {
    const where = clustered
      ? `the cluster could not place them${servers !== undefined ? ` (it names ${servers} server(s))` : ''}: start the missing JetStream servers, or set DAQFLOW_STREAM_REPLICAS to at most the number of JetStream servers that are up`
      : 'the NATS server is not part of a cluster, so it keeps one copy: set DAQFLOW_STREAM_REPLICAS=1, or give DAQFLOW_NATS_URL the servers of a JetStream cluster (docs/multi-host.md)';
    super(
      'VALIDATION_FAILED',
      `${what} needs ${replicas} replicas (DAQFLOW_STREAM_REPLICAS) and ${where}`,
      { what, replicas, clustered, ...(servers !== undefined ? { servers } : {}), setting: 'DAQFLOW_STREAM_REPLICAS' },
      options,
    );
  }
}

/**
 * JetStream did not answer, or did not answer well enough to open the event stream, within the
 * start time-out. `reason` is the last thing that went wrong.
 */
export class JetStreamStartError extends DaqflowError {
  override readonly name = 'JetStreamStartError';
  constructor(
    readonly servers: string,
    readonly timeoutMs: number,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(
      'STORE_UNAVAILABLE',
      `JetStream at ${servers} was not ready within ${timeoutMs} ms (DAQFLOW_START_TIMEOUT_MS); last: ${reason}. Check that the nats-server(s) in DAQFLOW_NATS_URL run with JetStream on, that a cluster has a majority of its servers up (it elects no leader without one), and \`nats server report jetstream\` on a server`,
      { servers, timeoutMs, reason, setting: 'DAQFLOW_START_TIMEOUT_MS' },
      options,
    );
  }
}
