import { readFileSync } from 'node:fs';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Service } from '@nats-io/services';
import type { ActorDefinition } from '../../actors/runtime/actorDefinition.js';
import type { Logger } from '../../actors/runtime/logger.js';
import { DaqflowError } from '../../events/errors.js';
import { subjectPrefixPattern } from '../config/config.js';
import { addActorService, type ApiRuntime, type CommandPreparer, type RunningService } from './actorService.js';
import { addQueryService, type StatusQueries } from './queryService.js';

/** One actor kind exposed over NATS. */
export interface ApiKind {
  readonly kind: string;
  /** NATS service name, e.g. `daqflow-demo`. */
  readonly serviceName: string;
  /** Subject group under the prefix, e.g. `demo` for `daqflow.demo.start`. */
  readonly group: string;
  readonly description?: string;
  /** The kind's definition: its commands become the service's endpoints. */
  readonly definition: ActorDefinition;
  /** Commands whose request body is resolved by the adapters before the runtime sees it. */
  readonly prepare?: Readonly<Record<string, CommandPreparer>>;
}

/** What the request API serves, and under which subjects. */
export interface StartApiOptions {
  readonly runtime: ApiRuntime;
  readonly queries: StatusQueries;
  readonly logger: Logger;
  readonly kinds: readonly ApiKind[];
  /**
   * Stands before every subject group (default `daqflow`), so that deployments or specs sharing
   * one nats-server do not answer each other's requests: `t_abc` gives `t_abc.demo.start`.
   */
  readonly subjectPrefix?: string;
  /** Largest request body accepted (default 256 KiB). */
  readonly maxBodyBytes?: number;
  /** Version the services report (default: the package version). */
  readonly version?: string;
  /** Added to each actor service's `$SRV.INFO` metadata: which process answers (process id, node, roles). */
  readonly processMetadata?: Readonly<Record<string, string>>;
  /** Actors of a kind this process owns now, for each actor service's `$SRV.STATS` (`ownedHere`). */
  readonly ownedHere?: (kind: string) => number;
}

/** The API's services, and how to stop them all. */
export interface RunningApi {
  readonly services: readonly Service[];
  /** Stops taking requests, then waits (up to `graceMs`) for those in flight; the connection stays open. */
  stop(graceMs?: number): Promise<void>;
}

/** Default first token of every API subject. */
export const DEFAULT_SUBJECT_PREFIX = 'daqflow';


let cachedVersion: string | undefined;

/** The `version` of daqflow's package.json, read once. */
export const packageVersion = (): string => {
  cachedVersion ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string })
    .version;
  return cachedVersion;
};

/** A service's subject group under the prefix: `demo` becomes `daqflow.demo`. */
export const prefixedGroup = (group: string, prefix: string): string => `${prefix}.${group}`;

/**
 * Starts the NATS request API on a connection: one service per actor kind, plus
 * `daqflow-query`. Every service is discoverable with `$SRV.PING|INFO|STATS`.
 */
export const startApi = async (nc: NatsConnection, options: StartApiOptions): Promise<RunningApi> => {
  const prefix = options.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX;
  if (!subjectPrefixPattern.test(prefix)) {
    throw new DaqflowError('INVALID_REQUEST', `subject prefix ${JSON.stringify(prefix)} is not a plain subject`, { prefix });
  }
  const version = options.version ?? packageVersion();
  const running: RunningService[] = [];
  const stop = async (graceMs = 5_000): Promise<void> => {
    // Stop every service even when one fails to, then report the first failure.
    const results = await Promise.allSettled(running.map((r) => r.stop(graceMs)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  };
  try {
    for (const entry of options.kinds) {
      const subjectGroup = prefixedGroup(entry.group, prefix);
      running.push(
        await addActorService(nc, {
          runtime: options.runtime,
          kind: entry.kind,
          serviceName: entry.serviceName,
          subjectGroup,
          description:
            entry.description ??
            `daqflow ${entry.kind} actors: one endpoint per command under ${subjectGroup}, and ${subjectGroup}.get to read one`,
          version,
          logger: options.logger,
          definition: entry.definition,
          ...(options.processMetadata ? { processMetadata: options.processMetadata } : {}),
          ...(options.ownedHere ? { ownedHere: () => options.ownedHere!(entry.kind) } : {}),
          ...(entry.prepare ? { prepare: entry.prepare } : {}),
          ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
        }),
      );
    }
    running.push(
      await addQueryService(nc, {
        queries: options.queries,
        subjectGroup: `${prefix}.query`,
        version,
        logger: options.logger,
        ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
      }),
    );
  } catch (e) {
    // Half an API is worse than none: the services already listening are taken down.
    await stop(0).catch((err: unknown) => options.logger.error({ err }, 'api cleanup failed'));
    throw e;
  }
  // The services' subscriptions must be on the server before callers announce the API: a
  // client on another connection could otherwise get "no responders", or miss a $SRV.PING.
  await nc.flush();
  return { services: running.map((r) => r.service), stop };
};
