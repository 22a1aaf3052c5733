import { mayOwnAcquisition, placementFactsOf, type PlacementCandidate } from '../../../actors/acquisitions/acquisitionPlacement.js';
import type { Logger } from '../../../actors/runtime/logger.js';
import type { ActorPlacement } from '../../../actors/runtime/ownership.js';
import type { EventStore } from '../../../events/eventStore.js';

/**
 * Where an acquisition may run, for the lease manager (docs/architecture.md, "Processes"): the
 * rule is `mayOwnAcquisition`; the facts come from the first event of a new acquisition, or from
 * the recorded events of one nobody owns or whose owner is gone.
 */
export const acquisitionPlacementOf = (options: {
  readonly store: EventStore;
  /** This process: its node and the stream it receives. */
  readonly self: () => PlacementCandidate;
  readonly logger: Logger;
}): ActorPlacement => ({
  mayCreate: (first) => {
    const verdict = mayOwnAcquisition(placementFactsOf([first]), options.self(), undefined);
    if (!verdict.ok) options.logger.info({ why: verdict.why }, 'acquisition recorded here and left for a process on the node it names');
    return verdict.ok;
  },
  mayTake: async (kind, id, from) => {
    const verdict = mayOwnAcquisition(placementFactsOf(await options.store.readStream(kind, id)), options.self(), from);
    if (!verdict.ok) options.logger.info({ acquisition: id, from: from?.process, why: verdict.why }, 'acquisition not taken: this process may not own it');
    return verdict.ok;
  },
});
