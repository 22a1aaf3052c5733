import type { NatsConnection } from '@nats-io/nats-core';
import services from '@nats-io/services';
import { z } from 'zod';
import type { Logger } from '../../actors/runtime/logger.js';
import { actorIdSchema, requestIdSchema, tokenPattern } from '../../events/envelope.js';
import { DaqflowError } from '../../events/errors.js';
import type { RunningService } from './actorService.js';
import { RequestGuard } from './requestGuard.js';
import { validateBody } from './requestBody.js';

const { Svcm } = services;

/** Filter of `daqflow.query.list`, with the limit already defaulted and capped. */
export interface StatusFilter {
  readonly kind?: string;
  readonly state?: string;
  readonly limit: number;
}

/** Filter of `daqflow.query.stats`: the run window overlaps [from, to); limit defaulted and capped. */
export interface StatsFilter {
  readonly parameter?: string;
  readonly from?: Date;
  readonly to?: Date;
  readonly limit: number;
}

/**
 * The read side the query service needs. The composition root wires it to the projections
 * (`listActors(db, filter)`, `actorHistory(db, id)`); specs give an in-memory fake. Rows are
 * replied as they come, so their shape is the projections' to define.
 */
export interface StatusQueries {
  /** Actor status rows matching the filter, at most `limit`. */
  list(filter: StatusFilter): Promise<readonly unknown[]>;
  /** Every stored transition of the actor, oldest (version 1) first; empty when unknown. */
  history(id: string): Promise<readonly unknown[]>;
  /** Grab statistics rows (one per run and parameter) matching the filter, by window start; at most `limit`. */
  stats(filter: StatsFilter): Promise<readonly unknown[]>;
  /**
   * Waits up to `waitMs` until the projections hold every event up to stream `position`;
   * `reached` says whether they did, `position` where they are.
   */
  caughtUp(position: number, waitMs: number): Promise<{ readonly reached: boolean; readonly position: number }>;
}

/** How to expose the read side as the `daqflow-query` service. */
export interface QueryServiceOptions {
  readonly queries: StatusQueries;
  /** Subject group of the endpoints (default `daqflow.query`). */
  readonly subjectGroup?: string;
  /** NATS service name (default `daqflow-query`). */
  readonly serviceName?: string;
  readonly version: string;
  readonly logger: Logger;
  readonly maxBodyBytes?: number;
}

/** `limit` of a list request that gives none. */
export const DEFAULT_LIST_LIMIT = 100;
/** The most rows one list request may ask for. */
export const MAX_LIST_LIMIT = 1_000;

/** `limit` of a stats request that gives none. */
export const DEFAULT_STATS_LIMIT = 100;
/** The most rows one stats request may ask for (a reply must stay under NATS' 1 MiB payload). */
export const MAX_STATS_LIMIT = 1_000;

/** How long a query with `minPosition` waits for the projections by default. */
export const DEFAULT_WAIT_MS = 5_000;
/** The longest wait a query may ask for. */
export const MAX_WAIT_MS = 30_000;

const optionalRequestId = requestIdSchema.optional();
// Read-your-writes: a client that got `position` in a command's reply asks for it here.
const freshness = {
  minPosition: z.number().int().min(0).optional(),
  waitMs: z.number().int().min(0).max(MAX_WAIT_MS).default(DEFAULT_WAIT_MS),
};
const listSchema = z.strictObject({
  ...freshness,
  kind: z.string().regex(tokenPattern, 'an actor kind is 1-128 of A-Z a-z 0-9 _ -').optional(),
  state: z.string().min(1).max(100).optional(),
  limit: z.number().int().min(1).max(MAX_LIST_LIMIT).default(DEFAULT_LIST_LIMIT),
  requestId: optionalRequestId,
});
const historySchema = z.strictObject({
  ...freshness,
  id: actorIdSchema,
  requestId: optionalRequestId,
});
const isoTime = z.iso.datetime({ offset: true, error: 'an ISO 8601 time with a zone, e.g. 2026-11-22T10:00:00Z' });
const statsSchema = z
  .strictObject({
    ...freshness,
    parameter: z.string().min(1).max(500).optional(),
    from: isoTime.optional(),
    to: isoTime.optional(),
    limit: z.number().int().min(1).max(MAX_STATS_LIMIT).default(DEFAULT_STATS_LIMIT),
    requestId: optionalRequestId,
  })
  .refine((b) => b.from === undefined || b.to === undefined || Date.parse(b.from) < Date.parse(b.to), {
    path: ['to'],
    message: 'to must be after from',
  });

/** Refuses with PROJECTIONS_BEHIND when the projections do not reach `minPosition` within `waitMs`. */
const awaitFreshness = async (
  queries: StatusQueries,
  { minPosition, waitMs }: { minPosition?: number | undefined; waitMs: number },
): Promise<void> => {
  if (minPosition === undefined) return;
  const { reached, position } = await queries.caughtUp(minPosition, waitMs);
  if (!reached) {
    throw new DaqflowError(
      'PROJECTIONS_BEHIND',
      `the projections hold the stream up to position ${position}, not yet ${minPosition}, after waiting ${waitMs} ms`,
      { minPosition, position, waitMs },
    );
  }
};

/**
 * Adds the `daqflow-query` service: `<group>.list` `{kind?, state?, limit?}` → `{items}`,
 * `<group>.history` `{id}` → `{events}` (404 when the id has no events) and `<group>.stats`
 * `{parameter?, from?, to?, limit?}` → `{rows}`. Each also takes `minPosition` (and `waitMs`):
 * it answers once the projections hold the stream up to that position.
 */
export const addQueryService = async (nc: NatsConnection, options: QueryServiceOptions): Promise<RunningService> => {
  const { queries, logger } = options;
  const serviceName = options.serviceName ?? 'daqflow-query';
  const subjectGroup = options.subjectGroup ?? 'daqflow.query';
  const guard = new RequestGuard(logger, options.maxBodyBytes);
  const service = await new Svcm(nc as never).add({
    name: serviceName,
    version: options.version,
    description: 'daqflow read side: actor status list, transition history and grab statistics, from the projections',
    statsHandler: (endpoint) => Promise.resolve(guard.statsFor(endpoint.subject)),
  });
  const group = service.addGroup(subjectGroup);

  group.addEndpoint('list', {
    handler: guard.handler(`${subjectGroup}.list`, async (body) => {
      const { kind, state, limit, ...wait } = validateBody(listSchema, body, 'query list');
      await awaitFreshness(queries, wait);
      const filter: StatusFilter = {
        limit,
        ...(kind === undefined ? {} : { kind }),
        ...(state === undefined ? {} : { state }),
      };
      return { body: { items: await queries.list(filter) } };
    }),
    metadata: {
      description: `actor status rows; body: {kind?, state?, limit? (1-${MAX_LIST_LIMIT}, default ${DEFAULT_LIST_LIMIT}), minPosition?, waitMs?}; replies {items}`,
    },
  });

  group.addEndpoint('history', {
    handler: guard.handler(`${subjectGroup}.history`, async (body) => {
      const { id, ...wait } = validateBody(historySchema, body, 'query history');
      await awaitFreshness(queries, wait);
      const events = await queries.history(id);
      if (events.length === 0) throw new DaqflowError('UNKNOWN_ACTOR', `no actor with id ${id}`, { id });
      return { body: { events } };
    }),
    metadata: { description: 'transitions of one actor in version order; body: {id, minPosition?, waitMs?}; replies {events}' },
  });

  group.addEndpoint('stats', {
    handler: guard.handler(`${subjectGroup}.stats`, async (body) => {
      const { parameter, from, to, limit, ...wait } = validateBody(statsSchema, body, 'query stats');
      await awaitFreshness(queries, wait);
      const filter: StatsFilter = {
        limit,
        ...(parameter === undefined ? {} : { parameter }),
        ...(from === undefined ? {} : { from: new Date(from) }),
        ...(to === undefined ? {} : { to: new Date(to) }),
      };
      return { body: { rows: await queries.stats(filter) } };
    }),
    metadata: {
      description: `grab statistics rows (one per run and parameter) whose window overlaps [from, to), by window start; body: {parameter?, from?, to? (ISO 8601), limit? (1-${MAX_STATS_LIMIT}, default ${DEFAULT_STATS_LIMIT}), minPosition?, waitMs?}; replies {rows}`,
    },
  });

  logger.info({ service: serviceName, id: service.info().id }, `service ${serviceName} listening`);
  return {
    service,
    stop: async (graceMs = 5_000) => {
      await service.stop();
      await guard.settle(graceMs);
    },
  };
};
