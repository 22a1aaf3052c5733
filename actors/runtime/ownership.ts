/** What a process may call its node (`DAQFLOW_NODE`, an acquisition's `node`): a short token. */
export const NODE_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
export const NODE_NAME_RULE = '1-128 of A-Z a-z 0-9 _ . -';

/** The first event of an actor a process is creating: what a kind's placement judges a new actor by. */
export interface FirstEvent {
  readonly type: string;
  readonly data: unknown;
}

/**
 * Which process of those with a kind's role may own one of its actors (docs/architecture.md,
 * "Processes"). A kind without one may be owned by any of them.
 */
export interface ActorPlacement {
  /** A new actor this process appends the first event of: whether it may claim it. */
  mayCreate(first: FirstEvent): boolean;
  /**
   * An actor nobody owns (`from` undefined: it was never claimed) or whose owner `from` is gone:
   * whether this process may take it, judged from its recorded events.
   */
  mayTake(kind: string, id: string, from: { readonly process: string; readonly node: string } | undefined): Promise<boolean>;
}

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
  claimNew(kind: string, id: string, first?: FirstEvent): Promise<boolean>;
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
