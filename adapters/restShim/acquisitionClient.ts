/**
 * The shim's only way into daqflow: the `<prefix>.acquisitions.*` request API (docs/api.md), so
 * that the shim can just as well run in a process of its own.
 */
import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/nats-core';
import { ShimError, type AcquisitionReply, type ShimHttpStatus } from './writerRestMapping.js';

export interface AcquisitionClient {
  start(body: Record<string, unknown>): Promise<AcquisitionReply>;
  stop(id: string, bound: { stopPulseId: number } | { now: true }): Promise<AcquisitionReply>;
  kill(id: string, reason: string): Promise<AcquisitionReply>;
  get(id: string): Promise<AcquisitionReply>;
}

const contractStatuses: ReadonlySet<number> = new Set([400, 404, 409, 500]);

export const createAcquisitionClient = (nc: NatsConnection, subjectPrefix: string, timeoutMs: number): AcquisitionClient => {
  const once = async (subject: string, body: Record<string, unknown>): Promise<AcquisitionReply> => {
    let reply;
    try {
      reply = await nc.request(subject, JSON.stringify(body), { timeout: timeoutMs });
    } catch (e) {
      throw new ShimError(500, 'STORE_UNAVAILABLE', `no answer from daqflow on ${subject}: is \`daqflow up\` running? (${(e as Error).message})`, {
        subject,
        retryable: true,
      });
    }
    const text = reply.string();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      throw new ShimError(500, 'INTERNAL', `daqflow answered ${subject} with something that is not JSON`, { subject });
    }
    const failed = parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } };
    const header = reply.headers?.get('Nats-Service-Error-Code');
    if (header || failed.error) {
      const code = Number(header);
      // The contract names four statuses; anything else from a future daqflow is still a failure.
      const status = (contractStatuses.has(code) ? code : 500) as ShimHttpStatus;
      const error = failed.error ?? {};
      throw new ShimError(
        status,
        typeof error.code === 'string' ? error.code : 'INTERNAL',
        typeof error.message === 'string' ? error.message : (reply.headers?.get('Nats-Service-Error') ?? `${subject} failed`),
        typeof error.details === 'object' && error.details !== null ? (error.details as Record<string, unknown>) : {},
      );
    }
    return parsed as AcquisitionReply;
  };

  // A command that timed out may still have been applied: the retry carries the same requestId,
  // so daqflow answers it with the first outcome instead of applying it twice.
  const command = async (verb: string, body: Record<string, unknown>): Promise<AcquisitionReply> => {
    const subject = `${subjectPrefix}.acquisitions.${verb}`;
    const withId = { ...body, requestId: `rest-shim-${randomUUID()}` };
    try {
      return await once(subject, withId);
    } catch (e) {
      if (e instanceof ShimError && e.code === 'STORE_UNAVAILABLE' && e.details.subject === subject) return once(subject, withId);
      throw e;
    }
  };

  return {
    start: (body) => command('start', body),
    stop: (id, bound) => command('stop', { id, ...bound }),
    kill: (id, reason) => command('kill', { id, reason }),
    get: (id) => once(`${subjectPrefix}.acquisitions.get`, { id }),
  };
};
