import type { Logger } from '../../actors/runtime/logger.js';
import type { EventStore } from '../../events/eventStore.js';

export interface StreamFollower {
  stop(): Promise<void>;
}

/**
 * Reads the event stream from `from` on and tells the owner of each actor what other processes
 * appended to it (`follow`), and the lease manager of actors nobody may own yet (`noticed`).
 * This is how a command taken by a process that does not own the actor reaches its owner's effects.
 */
export const followStream = (options: {
  readonly store: EventStore;
  readonly from: number;
  readonly hostsKind: (kind: string) => boolean;
  readonly owns: (kind: string, id: string) => boolean;
  readonly follow: (kind: string, id: string, version: number) => Promise<void>;
  readonly noticed: (kind: string, id: string, final: boolean) => void;
  readonly logger: Logger;
}): StreamFollower => {
  const subscription = options.store.subscribe(options.from);
  let stopped = false;
  const running = (async () => {
    try {
      for await (const batch of subscription) {
        if (stopped) break;
        const newest = new Map<string, { kind: string; id: string; version: number; final: boolean }>();
        for (const event of batch) {
          if (!options.hostsKind(event.actorKind)) continue;
          newest.set(`${event.actorKind}.${event.actorId}`, { kind: event.actorKind, id: event.actorId, version: event.version, final: event.final });
        }
        await Promise.all(
          [...newest.values()].map(async ({ kind, id, version, final }) => {
            if (options.owns(kind, id)) {
              await options.follow(kind, id, version).catch((e: unknown) =>
                options.logger.warn({ err: e, kind, id, version }, 'could not act on a transition appended elsewhere'),
              );
            } else {
              options.noticed(kind, id, final);
            }
          }),
        );
      }
    } catch (e) {
      if (!stopped) options.logger.error({ err: e }, 'following the event stream stopped');
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await subscription.close();
      await running;
    },
  };
};
