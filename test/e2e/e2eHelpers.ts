import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { createJetStreamEventStore } from '../../adapters/jetstream/index.js';
import type { RecordedEvent } from '../../events/envelope.js';

/** What one request to the daqflow NATS API came back with. */
export type ApiOutcome =
  | { readonly kind: 'ok'; readonly body: Record<string, unknown>; readonly duplicate: boolean }
  | { readonly kind: 'refused'; readonly status: string; readonly body: Record<string, unknown> }
  /** No reply at all: timeout, no responders, connection trouble. */
  | { readonly kind: 'lost'; readonly message: string };

/** Sends a JSON request and classifies the reply by the service error header. */
export const apiRequest = async (
  nc: NatsConnection,
  subject: string,
  body: unknown,
  timeoutMs: number,
): Promise<ApiOutcome> => {
  let msg;
  try {
    msg = await nc.request(subject, JSON.stringify(body), { timeout: timeoutMs });
  } catch (e) {
    return { kind: 'lost', message: e instanceof Error ? e.message : String(e) };
  }
  const text = msg.string();
  const parsed = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
  const status = msg.headers?.get('Nats-Service-Error-Code');
  if (status) return { kind: 'refused', status, body: parsed };
  return { kind: 'ok', body: parsed, duplicate: msg.headers?.get('Daqflow-Duplicate') === 'true' };
};

/** Every event of the stream, read with the product's own JetStream reader. */
export const readWholeStream = async (natsUrl: string, stream: string, subjectPrefix: string): Promise<RecordedEvent[]> => {
  const nc = await connect({ servers: natsUrl, name: 'e2e-stream-reader' });
  try {
    const store = createJetStreamEventStore({ nc, stream, subjectPrefix: `${subjectPrefix}.events` });
    const events: RecordedEvent[] = [];
    for await (const batch of store.readAll({ batchSize: 1_000 })) events.push(...batch);
    return events;
  } finally {
    await nc.close();
  }
};

/** The newest position of the stream. */
export const streamLastPosition = async (natsUrl: string, stream: string, subjectPrefix: string): Promise<number> => {
  const nc = await connect({ servers: natsUrl, name: 'e2e-stream-reader' });
  try {
    return await createJetStreamEventStore({ nc, stream, subjectPrefix: `${subjectPrefix}.events` }).lastPosition();
  } finally {
    await nc.close();
  }
};

/** actor_status as the stream says it must be: each actor's newest event. */
export interface FoldedStatus {
  readonly kind: string;
  readonly id: string;
  readonly state: string;
  readonly version: number;
  readonly final: boolean;
  readonly summary: Record<string, unknown>;
}

export const foldStatus = (events: readonly RecordedEvent[]): FoldedStatus[] => {
  const last = new Map<string, RecordedEvent>();
  for (const e of events) {
    const key = `${e.actorKind}\u0000${e.actorId}`;
    const seen = last.get(key);
    if (!seen || seen.version < e.version) last.set(key, e);
  }
  return sortStatus(
    [...last.values()].map((e) => ({
      kind: e.actorKind,
      id: e.actorId,
      state: e.state,
      version: e.version,
      final: e.final,
      summary: e.summary,
    })),
  );
};

export const sortStatus = <T extends { kind: string; id: string }>(rows: T[]): T[] =>
  rows.sort((a, b) => (a.kind === b.kind ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.kind < b.kind ? -1 : 1));

/** Polls `check` until it returns a value other than undefined; fails with `what` after `timeoutMs`. */
export const waitFor = async <T>(
  what: string | (() => string),
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> => {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
};

/**
 * A fresh temp folder for DAQFLOW_HOME. World-traversable: as root, the embedded PostgreSQL
 * runs as the `postgres` user and must reach its data folder inside.
 */
export const tempHome = (name: string): string => {
  const dir = mkdtempSync(join(tmpdir(), `daqflow-e2e-${name}-`));
  chmodSync(dir, 0o755);
  return dir;
};

/** Runs `work` over `items` with at most `concurrency` at a time, results in input order. */
export const mapConcurrent = async <T, R>(items: readonly T[], concurrency: number, work: (item: T) => Promise<R>): Promise<R[]> => {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) results[i] = await work(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
};
