import { sql, type Kysely, type Transaction } from 'kysely';
import type { EventStore, EventSubscription, RecordedEvent } from '../events/index.js';
import { readCheckpoint, storeCheckpoint } from './checkpoints.js';
import type { Database } from './database.js';
import { applyProjections, type Projection } from './projection.js';

/** Name of the live projector's checkpoint; a rebuild moves it to the rebuilt position. */
export const DEFAULT_PROJECTOR_NAME = 'daqflow-projector';

/**
 * Takes the transaction-scoped lock every writer of the live projection tables holds, so a
 * projector batch and a rebuild's swap never interleave. Released at commit or rollback.
 * `asynchronousCommit` also sets `synchronous_commit = off` for the transaction, in the same
 * round trip.
 */
export const lockProjections = async (trx: Transaction<Database>, options: { asynchronousCommit?: boolean } = {}): Promise<void> => {
  if (options.asynchronousCommit) {
    await sql`select set_config('synchronous_commit', 'off', true), pg_advisory_xact_lock(hashtext('daqflow-projections'))`.execute(trx);
  } else {
    await sql`select pg_advisory_xact_lock(hashtext('daqflow-projections'))`.execute(trx);
  }
};

/** The subset of a pino logger the projector uses. */
export interface ProjectorLogger {
  debug?(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface BatchReport {
  /** First and last position of the batch as delivered. */
  readonly from: number;
  readonly to: number;
  /** Events that were past the checkpoint and got applied. */
  readonly applied: number;
  /** The checkpoint after the batch. */
  readonly position: number;
  readonly ms: number;
}

export interface StartProjectorOptions {
  readonly db: Kysely<Database>;
  readonly store: EventStore;
  readonly projections: readonly Projection[];
  /** Checkpoint name and durable consumer name. */
  readonly name?: string;
  readonly batchSize?: number;
  readonly onBatch?: (report: BatchReport) => void;
  readonly logger?: ProjectorLogger;
  /** Longest wait between retries after a failure (default 5000 ms). */
  readonly maxBackoffMs?: number;
  /**
   * Whether a failure says the database is away rather than that a batch is wrong: such
   * failures are logged once, not at every retry (default: none is).
   */
  readonly isTransient?: (error: unknown) => boolean;
}

export interface Projector {
  /** Finishes the batch in flight, closes the subscription; pending `caughtUp` calls reject. */
  stop(): Promise<void>;
  /** Resolves once the stored checkpoint is at or past `position`. */
  caughtUp(position: number): Promise<void>;
  /** The last checkpoint this projector saw committed. */
  position(): number;
}

const consoleLogger: ProjectorLogger = {
  info: () => undefined,
  warn: (obj, msg) => console.warn(msg, obj),
  error: (obj, msg) => console.error(msg, obj),
};

type BatchOutcome =
  | { kind: 'applied'; position: number; applied: number }
  | { kind: 'skipped'; position: number }
  | { kind: 'rewound'; position: number };

/**
 * Keeps the projections up to date from the store, one transaction per delivered batch: lock,
 * skip what the checkpoint already covers, apply, move the checkpoint, commit, then ack.
 * Failures are logged and retried from the stored checkpoint with backoff; it never throws.
 */
export const startProjector = (options: StartProjectorOptions): Projector => {
  const {
    db,
    store,
    projections,
    name = DEFAULT_PROJECTOR_NAME,
    batchSize = 2_000,
    onBatch,
    logger = consoleLogger,
    maxBackoffMs = 5_000,
    isTransient = () => false,
  } = options;
  let known = 0;
  let failures = 0;
  let stopping = false;
  let subscription: EventSubscription | undefined;
  let wakeFromSleep: (() => void) | undefined;
  const waiters = new Set<{ position: number; resolve: () => void; reject: (e: Error) => void }>();

  const advance = (position: number): void => {
    known = position;
    for (const waiter of waiters) {
      if (waiter.position <= known) {
        waiters.delete(waiter);
        waiter.resolve();
      }
    }
  };

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      wakeFromSleep = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  const processBatch = (batch: readonly RecordedEvent[]): Promise<BatchOutcome> =>
    db.transaction().execute(async (trx) => {
      // The rows and the checkpoint commit together or not at all, so a commit lost in a
      // PostgreSQL crash only moves the checkpoint back with its rows, and those events are
      // projected again ('rewound' below). Not waiting for the WAL flush takes a disk sync off
      // every batch.
      await lockProjections(trx, { asynchronousCommit: true });
      const current = await readCheckpoint(trx, name);
      // Someone moved the checkpoint back (a deliberate reset): what we were sent no longer
      // follows it, so the subscription has to start again from there.
      if (current < known) return { kind: 'rewound', position: current };
      // Events at or below the checkpoint were applied by an earlier run, another instance, or
      // a rebuild that moved the checkpoint past them.
      const fresh = batch.filter((e) => e.position > current);
      const last = fresh[fresh.length - 1];
      if (last === undefined) return { kind: 'skipped', position: current };
      await applyProjections(trx, projections, fresh);
      const stored = await storeCheckpoint(trx, name, last.position, { expected: current });
      if (!stored.success) {
        throw new Error(`checkpoint ${name} moved under the lock (${stored.reason} at ${stored.current})`);
      }
      return { kind: 'applied', position: last.position, applied: fresh.length };
    });

  const consume = async (sub: EventSubscription): Promise<'rewound' | 'ended'> => {
    for await (const batch of sub) {
      const first = batch[0];
      const last = batch[batch.length - 1];
      if (first === undefined || last === undefined) continue;
      const started = performance.now();
      const outcome = await processBatch(batch);
      if (outcome.kind === 'rewound') {
        logger.warn({ name, from: known, to: outcome.position }, 'projector checkpoint moved back; resubscribing');
        advance(outcome.position);
        return 'rewound';
      }
      advance(outcome.position);
      if (failures > 0) logger.info({ name, position: known, attempts: failures }, 'projector resumed');
      failures = 0;
      sub.ack(last.position);
      try {
        onBatch?.({
          from: first.position,
          to: last.position,
          applied: outcome.kind === 'applied' ? outcome.applied : 0,
          position: outcome.position,
          ms: performance.now() - started,
        });
      } catch (err) {
        logger.warn({ err, name }, 'projector onBatch callback threw');
      }
      if (stopping) break;
    }
    return 'ended';
  };

  const closeQuietly = async (sub: EventSubscription | undefined): Promise<void> => {
    try {
      await sub?.close();
    } catch (err) {
      logger.warn({ err, name }, 'closing the subscription failed');
    }
  };

  const run = async (): Promise<void> => {
    while (!stopping) {
      let error: { err: unknown } | undefined;
      try {
        advance(await readCheckpoint(db, name));
        if (stopping) break;
        subscription = store.subscribe(known + 1, { durable: name, batchSize });
        if ((await consume(subscription)) === 'rewound') {
          failures = 0;
          continue;
        }
        // A subscription that ends on its own (the store closed it) is retried like a failure,
        // so a store that keeps ending it cannot make this loop spin.
        if (!stopping) error = { err: new Error('subscription ended') };
      } catch (err) {
        error = { err };
      } finally {
        await closeQuietly(subscription);
        subscription = undefined;
      }
      if (stopping || error === undefined) continue;
      failures += 1;
      const retryInMs = Math.min(maxBackoffMs, 100 * 2 ** Math.min(failures - 1, 16));
      const line = { err: error.err, name, position: known, attempt: failures, retryInMs };
      // A server that is away fails every attempt the same way: the first attempt says so, and
      // the return says how many it took ('projector resumed'). Any other failure is logged
      // at each attempt.
      if (failures > 1 && isTransient(error.err)) logger.debug?.(line, 'projector failed again; retrying');
      else logger.error(line, 'projector failed; resuming from the checkpoint');
      await sleep(retryInMs);
    }
  };

  const running = run().catch((err: unknown) => {
    logger.error({ err, name }, 'projector loop ended unexpectedly');
  });

  return {
    async stop() {
      stopping = true;
      wakeFromSleep?.();
      await closeQuietly(subscription);
      await running;
      for (const waiter of waiters) waiter.reject(new Error(`projector ${name} stopped at ${known}`));
      waiters.clear();
    },
    caughtUp(position) {
      if (known >= position) return Promise.resolve();
      if (stopping) return Promise.reject(new Error(`projector ${name} stopped at ${known}`));
      return new Promise((resolve, reject) => {
        waiters.add({ position, resolve, reject });
      });
    },
    position: () => known,
  };
};
