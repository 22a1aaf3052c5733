import { JetStreamApiError } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { ReplicasRefusedError } from './errors.js';

/** Server error codes: R>1 on a server outside a cluster; no set of peers to hold the replicas. */
const replicasNotClustered = 10074;
const noSuitablePeers = 10005;

/** Servers of the cluster the connection's server told the client of (its INFO), if it did. */
const clusterServers = (nc: NatsConnection | undefined): number | undefined => {
  const info = nc?.info as { cluster?: string; connect_urls?: string[] } | undefined;
  return info?.cluster !== undefined && info.connect_urls !== undefined ? info.connect_urls.length : undefined;
};

/**
 * Runs `create` (a stream or KV bucket with `replicas`), turning the server's refusal to place
 * them into ReplicasRefusedError, which says what to change; other errors pass through. With
 * `nc`, the error names how many servers the cluster has.
 */
export const withReplicas = async <T>(what: string, replicas: number, create: () => Promise<T>, nc?: NatsConnection): Promise<T> => {
  try {
    return await create();
  } catch (e) {
    if (e instanceof JetStreamApiError && (e.code === replicasNotClustered || e.code === noSuitablePeers)) {
      throw new ReplicasRefusedError(what, replicas, e.code === noSuitablePeers, clusterServers(nc), { cause: e });
    }
    throw e;
  }
};
