/**
 * Who runs an actor's effects and arms its deadlines when several processes share one store.
 * Every process may append transitions (the expected version decides the order); only the owner
 * acts on them. The runtime asks synchronously, so an implementation answers from what it holds.
 */
export interface Ownership {
  /** Whether this process holds the actor's lease now. */
  owns(kind: string, id: string): boolean;
  /**
   * Claims an actor this process is creating, started beside its first append so that the first
   * effect waits for neither in turn. Resolves true when this process is the owner; never rejects.
   */
  claimNew(kind: string, id: string): Promise<boolean>;
  /**
   * Of the unfinished actors found at start, the ones this process may take over now (no owner, or
   * one that is gone); each returned actor is claimed for this process.
   */
  claimAtStart(actors: ReadonlyArray<{ kind: string; id: string }>): Promise<Array<{ kind: string; id: string }>>;
  /** The actor reached a final state: its lease is given back. */
  finished(kind: string, id: string): void;
}

/** A runtime without an ownership port owns every actor it hosts, as a single process does. */
export const soleOwnership: Ownership = {
  owns: () => true,
  claimNew: () => Promise.resolve(true),
  claimAtStart: (actors) => Promise.resolve([...actors]),
  finished: () => undefined,
};
