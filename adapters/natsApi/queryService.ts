import type { NatsConnection } from '@nats-io/nats-core';
import services from '@nats-io/services';
import { z } from 'zod';
import type { Logger } from '../../actors/runtime/logger.js';
import { actorIdSchema, requestIdSchema, tokenPattern } from '../../events/envelope.js';
import { DaqflowError } from '../../events/errors.js';
import type { RunningService } from './actorService.js';
import { RequestGuard } from './errors.js';
import { validateBody } from './requestBody.js';

const { Svcm } = services;

/** Filter of `daqflow.query.list`, with the limit already defaulted and capped. */
export interface StatusFilter {
  readonly kind?: string;
  readonly state?: string;
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

const optionalRequestId = requestIdSchema.optional();
const listSchema = z.strictObject({
  kind: z.string().regex(tokenPattern, 'an actor kind is 1-128 of A-Z a-z 0-9 _ -').optional(),
  state: z.string().min(1).max(100).optional(),
  limit: z.number().int().min(1).max(MAX_LIST_LIMIT).default(DEFAULT_LIST_LIMIT),
  requestId: optionalRequestId,
});
const historySchema = z.strictObject({
  id: actorIdSchema,
  requestId: optionalRequestId,
});

/**
 * Adds the `daqflow-query` service: `<group>.list` `{kind?, state?, limit?}` → `{items}` and
 * `<group>.history` `{id}` → `{events}` (404 when the id has no events).
 */
export const addQueryService = async (nc: NatsConnection, options: QueryServiceOptions): Promise<RunningService> => {
  const { queries, logger } = options;
  const serviceName = options.serviceName ?? 'daqflow-query';
  const subjectGroup = options.subjectGroup ?? 'daqflow.query';
  const guard = new RequestGuard(logger, options.maxBodyBytes);
  const service = await new Svcm(nc as never).add({
    name: serviceName,
    version: options.version,
    description: 'daqflow read side: actor status list and transition history, from the projections',
    statsHandler: (endpoint) => Promise.resolve(guard.statsFor(endpoint.subject)),
  });
  const group = service.addGroup(subjectGroup);

  group.addEndpoint('list', {
    handler: guard.handler(`${subjectGroup}.list`, async (body) => {
      const { kind, state, limit } = validateBody(listSchema, body, 'query list');
      const filter: StatusFilter = {
        limit,
        ...(kind === undefined ? {} : { kind }),
        ...(state === undefined ? {} : { state }),
      };
      return { body: { items: await queries.list(filter) } };
    }),
    metadata: {
      description: `actor status rows; body: {kind?, state?, limit? (1-${MAX_LIST_LIMIT}, default ${DEFAULT_LIST_LIMIT})}; replies {items}`,
    },
  });

  group.addEndpoint('history', {
    handler: guard.handler(`${subjectGroup}.history`, async (body) => {
      const { id } = validateBody(historySchema, body, 'query history');
      const events = await queries.history(id);
      if (events.length === 0) throw new DaqflowError('UNKNOWN_ACTOR', `no actor with id ${id}`, { id });
      return { body: { events } };
    }),
    metadata: { description: 'transitions of one actor in version order; body: {id}; replies {events}' },
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
