import type { NatsConnection } from '@nats-io/nats-core';
import services, { type Service } from '@nats-io/services';
import { z } from 'zod';
import type { ActorDefinition, AnyCommandSpec } from '../../actors/runtime/actorDefinition.js';
import type { ActorRuntime, ActorView, CommandMeta } from '../../actors/runtime/actorRuntime.js';
import type { Logger } from '../../actors/runtime/logger.js';
import { actorIdSchema, requestIdSchema } from '../../events/envelope.js';
import { DaqflowError } from '../../events/errors.js';
import { RequestGuard, type JsonReply } from './requestGuard.js';
import { validateBody, type RequestBody } from './requestBody.js';

// @nats-io/services 3.0.0-25 is CJS whose exports are getters, which Node's ESM loader cannot
// see as named exports: only the default import works.
const { Svcm } = services;

/** The part of the runtime the API drives. */
export type ApiRuntime = Pick<ActorRuntime, 'create' | 'execute' | 'get' | 'findCreated'>;

/** How to expose one actor kind as a NATS service. */
export interface ActorServiceOptions {
  readonly runtime: ApiRuntime;
  readonly kind: string;
  /** NATS service name (discoverable under `$SRV.*.<name>`), e.g. `daqflow-demo`. */
  readonly serviceName: string;
  /** Subject group of the endpoints, e.g. `daqflow.demo` for `daqflow.demo.start`. */
  readonly subjectGroup: string;
  readonly description: string;
  /** Semantic version the service reports (the package version). */
  readonly version: string;
  readonly logger: Logger;
  /** The kind's definition, for its command list. */
  readonly definition: ActorDefinition;
  /** Largest request body accepted (default 256 KiB). */
  readonly maxBodyBytes?: number;
  /** Commands whose request body is resolved before the runtime sees it (see {@link CommandPreparer}). */
  readonly prepare?: Readonly<Record<string, CommandPreparer>>;
  /** More `$SRV.INFO` metadata: the process behind the service. */
  readonly processMetadata?: Readonly<Record<string, string>>;
  /**
   * How many actors of the kind this process owns now, given in each endpoint's `$SRV.STATS`
   * data as `ownedHere` (`$SRV.INFO` metadata is fixed when the service starts).
   */
  readonly ownedHere?: () => number;
}

/**
 * Turns a command's request body into the command payload, for commands whose payload needs
 * what a pure machine may not read: the clock, the configuration, a data source, the file
 * system (a grab's window is resolved against "now" and its parameters checked with the data
 * logger). Throws a `ValidationError` (400) for a body that cannot be resolved.
 */
export interface CommandPreparer {
  /** The request body's schema, for discovery (`$SRV.INFO`). */
  readonly requestSchema: z.ZodType;
  prepare(body: Record<string, unknown>): Promise<unknown>;
}

/** A running service and how to stop it once its requests in flight are answered. */
export interface RunningService {
  readonly service: Service;
  stop(graceMs?: number): Promise<void>;
}

/** Name of the read endpoint every actor service has besides its commands. */
export const GET_ENDPOINT = 'get';

// requestId travels in the body next to the payload; the command schemas are strict and
// would refuse it, so it is taken out (and checked) before they see the rest.
const optionalRequestId = requestIdSchema.optional();
const idSchema = actorIdSchema;
const commandTargetSchema = z.object({ id: idSchema, requestId: optionalRequestId });
// requestId means nothing to a read, but clients that stamp every request must not be refused.
const getSchema = z.strictObject({ id: idSchema, requestId: optionalRequestId });

/** The reply of every actor endpoint: the summary's fields, then id, state, version, final and position. */
export const actorReply = (view: ActorView): JsonReply => ({
  // Core fields last so that a summary field can never shadow them.
  body: {
    ...view.summary,
    ...view.details,
    id: view.id,
    state: view.state,
    version: view.version,
    final: view.final,
    position: view.position,
  },
  // A retry gets the same body; the header says it was answered from the first request.
  ...(view.duplicate ? { headers: { 'Daqflow-Duplicate': 'true' } } : {}),
});

const metaOf = (requestId: string | undefined): CommandMeta => (requestId === undefined ? {} : { requestId });

const inputSchemaText = (spec: Pick<AnyCommandSpec, 'schema'>): string | undefined => {
  try {
    return JSON.stringify(z.toJSONSchema(spec.schema, { io: 'input', unrepresentable: 'any' }));
  } catch {
    // Discovery metadata is a courtesy; a schema zod cannot express is simply not listed.
    return undefined;
  }
};

const definitionOf = (kind: string, definition: ActorDefinition): ActorDefinition => {
  if (definition.kind !== kind) {
    throw new DaqflowError('INTERNAL', `definition of ${definition.kind} given for kind ${kind}`, { kind });
  }
  if (GET_ENDPOINT in definition.commands) {
    throw new DaqflowError('INTERNAL', `${kind} has a command named ${GET_ENDPOINT}, which the API keeps for reads`, {
      kind,
    });
  }
  return definition;
};

/**
 * Adds one NATS service for one actor kind: an endpoint `<group>.<command>` per command of its
 * definition (the creating one makes a new actor; the others take `{ id, ...payload }`) and
 * `<group>.get` `{ id }`. `requestId` in a body is the idempotency key: a retry gets the first
 * answer.
 */
export const addActorService = async (nc: NatsConnection, options: ActorServiceOptions): Promise<RunningService> => {
  const { runtime, kind, logger } = options;
  const definition = definitionOf(kind, options.definition);
  const guard = new RequestGuard(logger, options.maxBodyBytes);
  // The library's NatsConnection type comes from its own nats-core prerelease; the object is the same.
  const service = await new Svcm(nc as never).add({
    name: options.serviceName,
    version: options.version,
    description: options.description,
    metadata: { ...options.processMetadata, kind },
    statsHandler: (endpoint) =>
      Promise.resolve({ ...guard.statsFor(endpoint.subject), ...(options.ownedHere ? { ownedHere: options.ownedHere() } : {}) }),
  });
  const group = service.addGroup(options.subjectGroup);
  const subjectOf = (name: string): string => `${options.subjectGroup}.${name}`;

  for (const [name, spec] of Object.entries(definition.commands)) {
    const preparer = options.prepare?.[name];
    const schema = inputSchemaText(preparer ? { schema: preparer.requestSchema } : spec);
    const creates = spec.creates === true;
    const work = creates
      ? async (body: RequestBody): Promise<JsonReply> => {
          const { requestId, ...payload } = body;
          const checked = validateBody(optionalRequestId, requestId, `${kind} ${name} requestId`);
          // A retry is answered before the body is prepared again: the first answer, even when
          // preparing it now would fail (the data logger down, a parameter gone).
          const first = preparer && checked !== undefined ? await runtime.findCreated(kind, checked) : undefined;
          if (first) return actorReply(first);
          const prepared = preparer ? await preparer.prepare(payload) : payload;
          return actorReply(await runtime.create(kind, name, prepared, metaOf(checked)));
        }
      : async (body: RequestBody): Promise<JsonReply> => {
          const { id, requestId, ...payload } = body;
          const target = validateBody(commandTargetSchema, { id, requestId }, `${kind} ${name}`);
          const prepared = preparer ? await preparer.prepare(payload) : payload;
          return actorReply(await runtime.execute(kind, target.id, name, prepared, metaOf(target.requestId)));
        };
    group.addEndpoint(name, {
      handler: guard.handler(subjectOf(name), work),
      metadata: {
        kind,
        command: name,
        creates: String(creates),
        description: creates
          ? `creates a ${kind} actor; body: the command payload and an optional requestId; replies {id, state, version, final, ...summary}`
          : `sends ${name} to a ${kind} actor; body: {id, requestId?, ...payload}; replies {id, state, version, final, ...summary}`,
        ...(schema === undefined ? {} : { request_schema: schema }),
      },
    });
  }

  group.addEndpoint(GET_ENDPOINT, {
    handler: guard.handler(subjectOf(GET_ENDPOINT), async (body) => {
      const { id } = validateBody(getSchema, body, `${kind} get`);
      return actorReply(await runtime.get(kind, id));
    }),
    metadata: {
      kind,
      description: `reads a ${kind} actor; body: {id}; replies {id, state, version, final, ...summary}`,
    },
  });

  logger.info(
    { service: options.serviceName, id: service.info().id, subjects: service.info().endpoints.map((e) => e.subject) },
    `service ${options.serviceName} listening`,
  );
  return {
    service,
    stop: async (graceMs = 5_000) => {
      await service.stop();
      await guard.settle(graceMs);
    },
  };
};
