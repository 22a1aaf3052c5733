/**
 * Error codes of daqflow and their status numbers, as a table so that every transport maps them
 * in one place. The NATS request API allows only 400, 404, 409 and 500 and maps the 503 of
 * STORE_UNAVAILABLE to 500 (adapters/natsApi/errors.ts).
 */
export const ErrorCodes = {
  INVALID_REQUEST: 400,
  VALIDATION_FAILED: 400,
  UNKNOWN_ACTOR: 404,
  UNKNOWN_ACTOR_KIND: 404,
  WRONG_STATE: 409,
  VERSION_CONFLICT: 409,
  DUPLICATE: 409,
  PERMISSION_DENIED: 403,
  STREAM_MISMATCH: 409,
  PROJECTIONS_BEHIND: 409,
  STORE_UNAVAILABLE: 503,
  REPLAY_INCOMPATIBLE: 500,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** Base of every daqflow error: a literal `name`, a `code`, structured `details` and the `cause`. */
export class DaqflowError extends Error {
  override readonly name: string = 'DaqflowError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.code = code;
    this.details = details;
  }

  /** The status number of the service error contract. */
  get status(): number {
    return ErrorCodes[this.code];
  }

  toJSON(): { code: ErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** The actor's stream moved on since it was read: someone else appended first. */
export class VersionConflictError extends DaqflowError {
  override readonly name = 'VersionConflictError';
  constructor(
    readonly stream: string,
    readonly expected: number,
    readonly actual: number | undefined,
    options?: ErrorOptions,
  ) {
    super(
      'VERSION_CONFLICT',
      `${stream} was changed by another writer (expected version ${expected}, found ${actual ?? 'a newer one'}); read it again and retry`,
      { stream, expected, actual },
      options,
    );
  }
}

/** The event store cannot be reached or refused the operation for a reason of its own. */
export class StoreUnavailableError extends DaqflowError {
  override readonly name = 'StoreUnavailableError';
  constructor(message: string, options?: ErrorOptions) {
    super('STORE_UNAVAILABLE', message, {}, options);
  }
}

/** Input that does not match its schema; `details.issues` says where. */
export class ValidationError extends DaqflowError {
  override readonly name = 'ValidationError';
  constructor(message: string, issues: readonly unknown[] = [], options?: ErrorOptions) {
    super('VALIDATION_FAILED', message, { issues }, options);
  }
}

/** No actor of that kind with that id. An unknown kind is a DaqflowError with code UNKNOWN_ACTOR_KIND. */
export class UnknownActorError extends DaqflowError {
  override readonly name = 'UnknownActorError';
  constructor(kind: string, id: string) {
    super('UNKNOWN_ACTOR', `no ${kind} actor with id ${id}`, { kind, id });
  }
}

/** The actor exists but its current state does not accept the command. */
export class WrongStateError extends DaqflowError {
  override readonly name = 'WrongStateError';
  constructor(kind: string, id: string, state: string, command: string) {
    super('WRONG_STATE', `${kind} ${id} is ${state} and does not accept ${command}`, {
      kind,
      id,
      state,
      command,
    });
  }
}

/** A stored history no longer folds through the current machine the way it did when recorded. */
export class ReplayIncompatibleError extends DaqflowError {
  override readonly name = 'ReplayIncompatibleError';
  constructor(message: string, details: Record<string, unknown>) {
    super('REPLAY_INCOMPATIBLE', message, details);
  }
}

export const isDaqflowError = (e: unknown): e is DaqflowError => e instanceof DaqflowError;
export const isVersionConflictError = (e: unknown): e is VersionConflictError =>
  e instanceof VersionConflictError;

/** The same idempotency key was appended before; `position` is where the first one landed. */
export class DuplicateEventError extends DaqflowError {
  override readonly name = 'DuplicateEventError';
  constructor(
    readonly stream: string,
    readonly idempotencyKey: string,
    readonly position: number,
  ) {
    super('DUPLICATE', `stream ${stream}: ${idempotencyKey} was already appended at ${position}`, {
      stream,
      idempotencyKey,
      position,
    });
  }
}

export const isDuplicateEventError = (e: unknown): e is DuplicateEventError =>
  e instanceof DuplicateEventError;

/** The message of anything thrown: an Error's message, or the value as text. */
export const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));
