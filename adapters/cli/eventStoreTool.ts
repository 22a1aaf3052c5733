import type { EventStore } from '../../events/eventStore.js';
import type { RecordedEvent } from '../../events/envelope.js';
import { allActorDefinitions } from '../jobs/registry.js';
import { DaqflowError, UnknownActorError } from '../../events/errors.js';
import { openEventStore } from '../app/startDaqflow.js';
import type { CliContext } from './context.js';
import { toolServers } from './context.js';

/** Runs `work` with the event store of the configured (or embedded) servers, then closes. */
export const withEventStore = async <T>(
  context: CliContext,
  work: (store: EventStore, servers: { natsUrl: string; databaseUrl: string }) => Promise<T>,
): Promise<T> => {
  const servers = await toolServers(context);
  try {
    const { nc, store } = await openEventStore(context.config, servers.natsUrl, 'daqflow-cli', context.logger);
    try {
      return await work(store, servers);
    } finally {
      await nc.close();
    }
  } finally {
    await servers.stop();
  }
};

/** An actor's events, found by id alone: ids are unique across kinds, so each kind is tried. */
export const readActorById = async (
  store: EventStore,
  id: string,
  kind?: string,
): Promise<{ kind: string; events: RecordedEvent[] }> => {
  const kinds = kind ? [kind] : allActorDefinitions.map((d) => d.kind);
  for (const k of kinds) {
    if (await store.readLast(k, id)) return { kind: k, events: await store.readStream(k, id) };
  }
  if (kind) throw new UnknownActorError(kind, id);
  throw new DaqflowError('UNKNOWN_ACTOR', `no actor with id ${id} (kinds tried: ${kinds.join(', ')})`, { id });
};
