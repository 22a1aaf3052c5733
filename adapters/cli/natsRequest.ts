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

/** How long a follow loop keeps asking while daqflow does not answer (a NATS cluster electing a leader). */
export const FOLLOW_PATIENCE_MS = 60_000;

/**
 * `requestJson` for a read that may simply be asked again, as the commands that follow a job do:
 * while it gets no answer, or a refusal that says to retry (STORE_UNAVAILABLE: a server going
 * away, a cluster electing a stream leader), it asks again every second for up to `patienceMs`,
 * saying once on stderr that it waits. Any other refusal, or the last failure once the patience is
 * spent, is thrown as `requestJson` throws it.
 */
export const readJsonPatiently = async <T = Record<string, unknown>>(
  nc: NatsConnection,
  subject: string,
  body: unknown,
  patienceMs = FOLLOW_PATIENCE_MS,
): Promise<T> => {
  const deadline = Date.now() + patienceMs;
  let told = false;
  for (;;) {
    try {
      return await requestJson<T>(nc, subject, body);
    } catch (e) {
      if (!(e instanceof DaqflowError) || e.code !== 'STORE_UNAVAILABLE' || Date.now() >= deadline) throw e;
      if (!told) process.stderr.write(`\ndaqflow: ${e.message}; asking again for up to ${Math.round(patienceMs / 1_000)} s\n`);
      told = true;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
};
