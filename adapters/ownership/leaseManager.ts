import { hostname } from 'node:os';
import type { NatsConnection } from '@nats-io/nats-core';
import { Kvm, type KV } from '@nats-io/kv';
import type { ActorPlacement, Ownership } from '../../actors/runtime/ownership.js';
import type { Logger } from '../../actors/runtime/logger.js';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { withReplicas } from '../jetstream/replicas.js';
import { listKeys } from './listKeys.js';
import { actorKey, ownerIn, ownershipBuckets, type OwnerValue } from './ownershipBuckets.js';
import { readPresenceEntries } from './readPresence.js';
import { toStoreError } from '../jetstream/errors.js';
import { untilJetStreamReady } from '../jetstream/untilJetStreamReady.js';

/** What a process says of itself in the presence bucket, renewed while it lives. */
export interface ProcessPresence {
  readonly process: string;
  readonly node: string;
  readonly host: string;
  readonly pid: number;
  readonly roles: readonly string[];
  readonly startedAt: string;
  readonly renewedAt: string;
  /** Unfinished actors it owns, by kind. */
  readonly owned: Readonly<Record<string, number>>;
  /** Whether it runs the projector now. */
  readonly projector: boolean;
}

/** What the lease manager needs of the runtime (bound once the runtime exists). */
export interface LeasedRuntime {
  adopt(kind: string, id: string): Promise<boolean>;
  release(kind: string, id: string): void;
  ownedCounts(): Record<string, number>;
}

export interface LeaseSettings {
  /** A process that has not renewed its presence for this long is gone; its actors are taken over. */
  readonly ttlMs: number;
}

export interface StartLeasesOptions {
  readonly nc: NatsConnection;
  /** The event stream's name: the buckets are named after it, so stores sharing a server stay apart. */
  readonly stream: string;
  /**
   * Replicas of the buckets: at least the event stream's, so that the leases outlive the loss of
   * whatever servers the stream outlives (an R1 bucket on the one server that went away would stop
   * every process's commands with it).
   */
  readonly replicas: number;
  readonly node: string;
  /** This process's roles, `all` expanded (docs/architecture.md, "Processes"). */
  readonly roles: readonly string[];
  /**
   * The role that owns actors of a stored kind (a kind's module name: `grab` → `grabs`), for this
   * process and for the others listed in the presence bucket alike.
   */
  readonly roleOfKind: (kind: string) => string;
  /** Whether it takes part in the projector's lease. */
  readonly projectorRole: boolean;
  /**
   * Which of the processes with a kind's role may own one of its actors (an acquisition: the node
   * it names, the stream its writer read); a kind without one goes to any of them.
   */
  readonly placement?: (kind: string) => ActorPlacement | undefined;
  readonly settings: LeaseSettings;
  readonly logger: Logger;
  /**
   * How long the buckets' creation and the first renewal are retried while JetStream does not
   * answer yet: a bucket just created on a cluster has no leader for a moment, and its first put
   * finds no responder. 0 tries once.
   */
  readonly startWaitMs?: number;
  /** Where the servers are, for the error once `startWaitMs` has run out. */
  readonly servers?: string;
}

/** The leases of one process: its presence, the actors it owns, the projector's lease. */
export interface LeaseManager extends Ownership {
  readonly processId: string;
  /** Connects the runtime; takeovers begin with start(). */
  bind(runtime: LeasedRuntime): void;
  /** Begins the scans that take over the actors of processes that are gone. */
  start(): void;
  /** Called when this process gains (true) or loses (false) the projector's lease. */
  onProjectorLease(listener: (held: boolean) => void): void;
  /**
   * An actor this process hosts a kind of appeared on the stream: when nobody owns it (created
   * by a process without the kind's role), it is claimed after a moment.
   */
  noticed(kind: string, id: string, final: boolean): void;
  /** Stops renewing and removes this process's presence so that others take over at once. */
  stop(): Promise<void>;
}

const encoder = new TextEncoder();
const encode = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value));

const PROJECTOR_KEY = 'projector';

const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Runs `work` over `items` with at most `limit` at once. */
const eachLimited = async <T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> => {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: Math.min(limit, queue.length) }, async () => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) await work(next);
    }),
  );
};

const isCasFailure = (e: unknown): boolean => {
  const text = e instanceof Error ? `${e.message} ${String((e as { api_error?: { err_code?: number } }).api_error?.err_code ?? '')}` : String(e);
  return /wrong last sequence|10071|key exists/i.test(text);
};

/**
 * Presence and actor leases in two JetStream KV buckets (docs/architecture.md, "Processes").
 * The presence bucket's entries expire `ttlMs` after their last write; an actor's
 * lease is the owner's process id in the owners bucket, valid while that process's presence lives,
 * and changes hands only by compare-and-set on its revision.
 */
export const startLeases = async (options: StartLeasesOptions): Promise<LeaseManager> => {
  const { logger, settings } = options;
  const hostsKind = (kind: string): boolean => options.roles.includes(options.roleOfKind(kind));
  const ttlMs = settings.ttlMs;
  const renewMs = Math.max(250, Math.floor(ttlMs / 4));
  // The owner stops acting this long before others may start: its own clock, measured from the
  // moment it sent its last successful renewal, which the server stored no earlier.
  const fenceAfterMs = ttlMs - Math.max(renewMs, Math.floor(ttlMs / 3));
  const scanMs = Math.max(200, Math.min(2_000, Math.floor(ttlMs / 5)));
  const host = hostname();
  const processId = `${options.node}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`.replace(/[^A-Za-z0-9_-]/g, '-');
  const me: OwnerValue = { process: processId, node: options.node };
  const kvm = new Kvm(options.nc);
  const names = ownershipBuckets(options.stream);
  const { replicas } = options;
  // Replicas the servers cannot place are refused with what to change (DAQFLOW_STREAM_REPLICAS).
  const retried = <T>(operation: string, attempt: () => Promise<T>): Promise<T> =>
    untilJetStreamReady(
      () => attempt().catch((e: unknown) => { throw toStoreError(e, operation); }),
      {
        servers: options.servers ?? 'the NATS servers',
        timeoutMs: options.startWaitMs ?? 0,
        onWait: (reason, delayMs) => logger.warn({ retryInMs: delayMs }, `waiting for JetStream (${operation}): ${reason}`),
      },
    );
  const [jsm, presence, owners]: [JetStreamManager, KV, KV] = await retried('creating the lease buckets', async () => [
    await jetstreamManager(options.nc),
    await withReplicas(`lease bucket ${names.processes}`, replicas, () =>
      kvm.create(names.processes, { ttl: ttlMs, history: 1, replicas }), options.nc),
    await withReplicas(`lease bucket ${names.owners}`, replicas, () =>
      kvm.create(names.owners, { history: 1, replicas }), options.nc),
  ]);

  const owned = new Map<string, { kind: string; id: string }>();
  const startedAt = new Date().toISOString();
  let runtime: LeasedRuntime | undefined;
  let holdsProjector = false;
  const projectorListeners: Array<(held: boolean) => void> = [];
  let lastRenewSentAt = Date.now();
  let fenced = false;
  let stopped = false;
  /** Live processes as the last scan saw them. */
  let live = new Map<string, ProcessPresence>();
  const unclaimed = new Map<string, { kind: string; id: string; at: number }>();
  const knownOwned = new Set<string>();
  /** Creates in flight: a scan must not take such an actor for a lost one of this process. */
  const claiming = new Set<string>();
  const timers: NodeJS.Timeout[] = [];
  let scanning: Promise<void> | undefined;
  let lastFullScan = 0;

  /**
   * The listed processes less those on this host whose pid has exited: gone now, not when their
   * presence expires, so that a restart on the same host takes its predecessor's leases back at once.
   */
  const withoutExited = (listed: Map<string, ProcessPresence>): Map<string, ProcessPresence> =>
    new Map([...listed].filter(([, p]) => p.process === processId || p.host !== host || processAlive(p.pid)));

  const presenceValue = (): ProcessPresence => ({
    process: processId,
    node: options.node,
    host,
    pid: process.pid,
    roles: options.roles,
    startedAt,
    renewedAt: new Date().toISOString(),
    owned: runtime?.ownedCounts() ?? {},
    projector: holdsProjector,
  });

  const renew = async (): Promise<void> => {
    const sentAt = Date.now();
    await presence.put(processId, encode(presenceValue()));
    lastRenewSentAt = sentAt;
    if (fenced) {
      fenced = false;
      lastFullScan = 0;
      logger.info({ process: processId }, 'presence renewed again: actors still leased to this process are taken up again');
    }
  };

  const setProjector = (held: boolean): void => {
    if (held === holdsProjector) return;
    holdsProjector = held;
    for (const listener of projectorListeners) listener(held);
  };

  /** Kinds some other live process could take over: only those are given up when renewals fail. */
  const contested = (kind: string): boolean =>
    [...live.values()].some((p) => p.process !== processId && p.roles.includes(options.roleOfKind(kind)));

  const fence = (): void => {
    if (fenced || stopped) return;
    if (Date.now() - lastRenewSentAt < fenceAfterMs) return;
    fenced = true;
    let released = 0;
    for (const [key, { kind, id }] of owned) {
      if (!contested(kind)) continue;
      owned.delete(key);
      runtime?.release(kind, id);
      released++;
    }
    if (holdsProjector && contested('projector')) setProjector(false);
    logger.warn(
      { process: processId, released, sinceRenewMs: Date.now() - lastRenewSentAt },
      'presence not renewed in time: effects of actors another process may take over are stopped',
    );
  };

  const readLive = async (): Promise<Map<string, ProcessPresence>> =>
    new Map((await readPresenceEntries(jsm, presence, names.processes)).map((p) => [p.process, p]));

  /**
   * Names this process in an owners-bucket key by compare-and-set: created when `revision` is
   * undefined, else updated from that revision. False when another writer got there first.
   */
  const writeOwner = async (key: string, revision: number | undefined): Promise<boolean> => {
    try {
      if (revision === undefined) await owners.create(key, encode(me));
      else await owners.update(key, encode(me), revision);
      return true;
    } catch (e) {
      if (isCasFailure(e)) return false;
      throw e;
    }
  };

  /**
   * Owners-bucket revisions at which this process was found not eligible for an actor: a stranded
   * actor is judged again when its entry changes, not at every full scan.
   */
  const refused = new Map<string, number>();
  /**
   * Whether the kind's placement lets this process take an actor nobody owns (`from` undefined) or
   * whose owner `from` is gone. A placement that cannot answer (the store unreachable) says no:
   * the next scan asks again.
   */
  const eligible = async (kind: string, id: string, revision: number | undefined, from: OwnerValue | undefined): Promise<boolean> => {
    const placement = options.placement?.(kind);
    if (placement === undefined) return true;
    const key = actorKey(kind, id);
    if (revision !== undefined && refused.get(key) === revision) return false;
    const ok = await placement.mayTake(kind, id, from).catch((e: unknown) => {
      logger.warn({ err: e, kind, id }, 'could not judge whether this process may own an actor: asked again at the next scan');
      return undefined;
    });
    if (ok === false && revision !== undefined) refused.set(key, revision);
    return ok === true;
  };

  const take = async (kind: string, id: string, revision: number | undefined): Promise<boolean> => {
    const key = actorKey(kind, id);
    const won = await writeOwner(key, revision).catch((e: unknown) => {
      logger.warn({ err: e, kind, id }, 'could not claim an actor: tried again at the next scan');
      return false;
    });
    if (won) owned.set(key, { kind, id });
    return won;
  };

  const adopt = (kind: string, id: string): void => {
    if (!runtime) return;
    void runtime.adopt(kind, id);
  };

  /** Whether the lease named in an entry belongs to a process that is gone. */
  const ownerGone = (value: OwnerValue | undefined, alive: Map<string, ProcessPresence>): boolean =>
    value === undefined || (value.process !== processId && !alive.has(value.process));

  const scanOwners = async (alive: Map<string, ProcessPresence>): Promise<void> => {
    const keys = await listKeys(jsm, names.owners, 'a.>');
    let taken = 0;
    await eachLimited(keys, 32, async (key) => {
      if (owned.has(key) || claiming.has(key) || stopped) return;
      const [, kind, ...rest] = key.split('.');
      const id = rest.join('.');
      if (!kind || !id || !hostsKind(kind)) return;
      const entry = await owners.get(key);
      if (!entry || entry.operation !== 'PUT') return;
      const value = ownerIn(entry);
      if (value?.process === processId) {
        if (owned.has(key) || claiming.has(key)) return;
        // Leased to this process, which had given it up while its renewals failed.
        owned.set(key, { kind, id });
        adopt(kind, id);
        taken++;
        return;
      }
      if (!ownerGone(value, alive)) return;
      if (!(await eligible(kind, id, entry.revision, value))) return;
      if (await take(kind, id, entry.revision)) {
        logger.info({ kind, id, from: value?.process }, 'actor taken over from a process that is gone');
        adopt(kind, id);
        taken++;
      }
    });
    if (taken) logger.info({ taken, process: processId }, 'actors taken over');
  };

  const scanProjector = async (listed: Map<string, ProcessPresence>): Promise<void> => {
    if (!options.projectorRole) return;
    const alive = withoutExited(listed);
    const entry = await owners.get(PROJECTOR_KEY);
    const value = ownerIn(entry);
    if (value?.process === processId) {
      setProjector(true);
      return;
    }
    if (value !== undefined && alive.has(value.process)) {
      setProjector(false);
      return;
    }
    if (!(await writeOwner(PROJECTOR_KEY, entry && entry.operation === 'PUT' ? entry.revision : undefined))) return;
    logger.info({ process: processId, from: value?.process }, 'this process runs the projector now');
    setProjector(true);
  };

  const scanUnclaimed = async (): Promise<void> => {
    const due = [...unclaimed].filter(([, u]) => Date.now() - u.at >= scanMs);
    for (const [key] of due) unclaimed.delete(key);
    await eachLimited(due, 16, async ([key, { kind, id }]) => {
      const entry = await owners.get(key);
      if (entry && entry.operation === 'PUT') {
        knownOwned.add(key);
        return;
      }
      if (!(await eligible(kind, id, undefined, undefined))) return;
      if (await take(kind, id, entry?.revision)) {
        logger.info({ kind, id }, 'actor nobody owned claimed');
        adopt(kind, id);
      }
    });
  };

  const scan = async (): Promise<void> => {
    const before = live;
    live = await readLive();
    const lost = [...before.keys()].filter((p) => !live.has(p) && p !== processId);
    if (lost.length) logger.info({ lost }, 'processes gone: their actors are taken over');
    if (!fenced && (lost.length > 0 || Date.now() - lastFullScan >= scanMs * 10)) {
      lastFullScan = Date.now();
      await scanOwners(live);
    }
    if (!fenced) {
      await scanUnclaimed();
      await scanProjector(live);
    }
  };

  const every = (ms: number, work: () => Promise<void> | void): void => {
    const timer = setInterval(() => {
      if (stopped) return;
      void Promise.resolve()
        .then(work)
        .catch((e: unknown) => logger.debug({ err: e }, 'lease work failed: tried again'));
    }, ms);
    timer.unref();
    timers.push(timer);
  };

  await retried('the first lease renewal', async () => {
    await renew();
    live = await readLive();
    // The owners bucket's leader answers its info: the first claims need it elected too.
    await owners.status();
  });
  // Renewals and the fence run from the first claim on: actors claimed at start are fenced too.
  every(renewMs, renew);
  every(Math.max(100, Math.floor(renewMs / 4)), fence);

  return {
    processId,
    owns: (kind, id) => !stopped && owned.has(actorKey(kind, id)),
    claimNew: async (kind, id, first) => {
      if (stopped || !hostsKind(kind)) return false;
      // Not this process's to run (another node's): left unclaimed, as by a process without the role.
      if (first !== undefined && options.placement?.(kind)?.mayCreate(first) === false) return false;
      const key = actorKey(kind, id);
      if (owned.has(key)) return true;
      claiming.add(key);
      try {
        if (await writeOwner(key, undefined)) {
          owned.set(key, { kind, id });
          return true;
        }
      } catch (e) {
        logger.warn({ err: e, kind, id }, 'could not claim a new actor: claimed at the next scan');
        unclaimed.set(key, { kind, id, at: Date.now() });
        return false;
      } finally {
        claiming.delete(key);
      }
      // Someone holds the key: this process itself, when a retried command claims again.
      const value = ownerIn(await owners.get(key).catch(() => null));
      if (value?.process === processId) {
        owned.set(key, { kind, id });
        return true;
      }
      return false;
    },
    claimAtStart: async (actors) => {
      const mine: Array<{ kind: string; id: string }> = [];
      const alive = withoutExited(live);
      await eachLimited(
        actors.filter((a) => hostsKind(a.kind)),
        32,
        async ({ kind, id }) => {
          const key = actorKey(kind, id);
          const entry = await owners.get(key);
          const value = ownerIn(entry);
          if (!ownerGone(value, alive) && value?.process !== processId) return;
          if (value?.process !== processId && !(await eligible(kind, id, entry?.operation === 'PUT' ? entry.revision : undefined, value))) return;
          if (await take(kind, id, entry?.revision)) mine.push({ kind, id });
        },
      );
      return mine;
    },
    finished: (kind, id) => {
      const key = actorKey(kind, id);
      owned.delete(key);
      knownOwned.delete(key);
      unclaimed.delete(key);
      refused.delete(key);
      // The subject's messages go entirely: a KV purge would leave a marker per finished actor,
      // which every full scan would read again.
      void jsm.streams.purge(`KV_${names.owners}`, { filter: `$KV.${names.owners}.${key}` }).catch(() => undefined);
    },
    bind: (bound) => {
      runtime = bound;
    },
    start: () => {
      every(scanMs, () => (scanning ??= scan().finally(() => (scanning = undefined))));
      void scan().catch((e: unknown) => logger.debug({ err: e }, 'first lease scan failed: tried again'));
    },
    onProjectorLease: (listener) => {
      projectorListeners.push(listener);
    },
    noticed: (kind, id, final) => {
      const key = actorKey(kind, id);
      if (final) {
        knownOwned.delete(key);
        unclaimed.delete(key);
        refused.delete(key);
        return;
      }
      if (stopped || owned.has(key) || knownOwned.has(key) || unclaimed.has(key) || !hostsKind(kind)) return;
      unclaimed.set(key, { kind, id, at: Date.now() });
    },
    stop: async () => {
      stopped = true;
      for (const timer of timers) clearInterval(timer);
      await scanning?.catch(() => undefined);
      if (holdsProjector) await owners.purge(PROJECTOR_KEY).catch(() => undefined);
      await presence.purge(processId).catch(() => undefined);
    },
  };
};
