import { PermissionViolationError, type NatsConnection } from '@nats-io/nats-core';
import { DaqflowError, type ErrorCode } from '../../events/errors.js';
import { natsUserOf } from '../jetstream/connection.js';
import { NatsPermissionError } from '../jetstream/errors.js';

/**
 * A request the server refused to carry (the user may not publish on the subject, or not
 * receive the reply) as the structured error the CLI prints; anything else undefined.
 */
export const permissionRefusal = (nc: NatsConnection, subject: string, e: unknown): NatsPermissionError | undefined => {
  // The client hands a request its refusal wrapped in a RequestError.
  const violation = e instanceof PermissionViolationError ? e : (e as { cause?: unknown } | undefined)?.cause;
  if (!(violation instanceof PermissionViolationError)) return undefined;
  return new NatsPermissionError(violation.subject || subject, violation.operation === 'subscription' ? 'subscription' : 'publish', natsUserOf(nc), { cause: e });
};

/**
 * Sends a JSON request to a daqflow endpoint and returns the JSON reply; a service error
 * reply becomes a DaqflowError with the service's code and message.
 */
export const requestJson = async <T = Record<string, unknown>>(
  nc: NatsConnection,
  subject: string,
  body: unknown,
  timeoutMs = 5_000,
): Promise<T> => {
  let reply;
  try {
    reply = await nc.request(subject, JSON.stringify(body), { timeout: timeoutMs });
  } catch (e) {
    const refusal = permissionRefusal(nc, subject, e);
    if (refusal) throw refusal;
    throw new DaqflowError('STORE_UNAVAILABLE', `no answer on ${subject}: is \`daqflow up\` running? (${(e as Error).message})`, {}, { cause: e });
  }
  const text = reply.string();
  const parsed = (text ? JSON.parse(text) : {}) as T & { error?: { code?: string; message?: string; details?: Record<string, unknown> } };
  if (reply.headers?.get('Nats-Service-Error-Code') || parsed.error) {
    const code = (parsed.error?.code as ErrorCode | undefined) ?? 'INTERNAL';
    throw new DaqflowError(code, parsed.error?.message ?? reply.headers?.get('Nats-Service-Error') ?? 'request failed', parsed.error?.details ?? {});
  }
  return parsed;
};
