import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Kysely } from 'kysely';
import type { Logger as PinoLogger } from 'pino';
import { allActorDefinitions, jobModules as registeredJobModules } from '../jobs/registry.js';
import { coreProjections } from '../../projections/registry.js';
import { serviceNameOf, type JobContext, type JobModule, type JobService } from '../jobs/jobModule.js';
import { apiPreparers, type Preparers } from '../jobs/preparers.js';
import type { ActorDefinition, EffectHandlers } from '../../actors/runtime/actorDefinition.js';
import { newId } from '../ids.js';
import { ActorRuntime } from '../../actors/runtime/actorRuntime.js';
import type { Logger } from '../../actors/runtime/logger.js';
import { EventSchemas } from '../../events/eventSchemas.js';
import type { EventStore } from '../../events/eventStore.js';
import type { Database } from '../../projections/database.js';
import { startProjector, type Projector } from '../../projections/projector.js';
import type { DaqflowConfig } from '../config/config.js';

type NatsConfigKey =
  | 'natsUser'
  | 'natsPassword'
  | 'natsToken'
  | 'natsNkey'
  | 'natsCreds'
  | 'natsTlsCa'
  | 'natsTlsCert'
  | 'natsTlsKey'
  | 'natsTlsRequired';
import { sharedWriterThreadPool } from '../hdf5/swissfelWriterThread.js';
import { startBsreadSource, type BsreadSource } from '../bsread/bsreadSource.js';
import { DEFAULT_SIMULATOR_RATE_HZ, startDefaultSimulator } from '../bsread/defaultSimulator.js';
import { withTimeout } from '../withTimeout.js';
import { closeNats, connectNats } from '../jetstream/connection.js';
import { watchConnection } from '../jetstream/watchConnection.js';
import { ensureEventStream } from '../jetstream/eventStream.js';
import { natsSettingsOf } from '../jetstream/natsSettings.js';
import { toStoreError } from '../jetstream/errors.js';
import { untilJetStreamReady } from '../jetstream/untilJetStreamReady.js';
import { createJetStreamEventStore } from '../jetstream/jetstreamEventStore.js';
import { startApi } from '../natsApi/startApi.js';
import { createDb } from '../postgres/createDb.js';
import { isDatabaseUnavailable } from '../postgres/databaseUnavailable.js';
import { migrateToLatest } from '../postgres/migrate.js';
import { watchDatabase, type DatabaseWatch } from '../postgres/watchDatabase.js';
import { dataLoggerFromConfig } from './dataLogger.js';
import { createStatusQueries } from './statusQueries.js';
import { startProjectorThread } from './projectorThread.js';
import { OutageLog, type OutageState } from './outageLog.js';
import { createDaqflowMetrics, type DaqflowMetrics } from '../http/daqflowMetrics.js';
import { meteredEventStore } from './meteredEventStore.js';
import type { BatchReport } from '../../projections/projector.js';
import { startLeases, type LeaseManager } from '../ownership/leaseManager.js';
import { followStream } from '../ownership/followStream.js';
import { leasedProjector } from './leasedProjector.js';
import { resolveRoles, type Roles } from './roles.js';

export interface Daqflow {
  readonly nc: NatsConnection;
  readonly store: EventStore;
  readonly db: Kysely<Database>;
  readonly runtime: ActorRuntime;
  readonly projector: Projector;
  /** The bsread stream (`DAQFLOW_BSREAD_STREAM`, else a simulated one) and its ring buffer. */
  readonly bsread: BsreadSource;
  /** The Prometheus registry of this process and the hooks that feed it. */
  readonly metrics: DaqflowMetrics;
  /** This process's roles, and its leases (presence, actors it owns, the projector's). */
  readonly roles: Roles;
  readonly leases: LeaseManager;
  /** Calls `listener` after each batch the projector committed; returns the unsubscribe. */
  onProjected(listener: (report: BatchReport) => void): () => void;
  /** Whether NATS and PostgreSQL answer, as the outage logs last saw them. */
  health(): { readonly nats: OutageState; readonly postgres: OutageState };
  /**
   * Stops in a fixed order (docs/operations.md): requests, effects at a safe point, writer
   * files, the projector (after catching up with what was appended), the bsread source, then
   * the clients. Each step is bounded; `onStep` hears each step's name as it begins.
   */
  stop(onStep?: (step: string) => void): Promise<void>;
}

/** The steps of Daqflow.stop(), in their order. */
export const stopSteps = [
  'request API',
  'job services',
  'actor runtime',
  'writer threads',
  'job clean-up',
  'projector',
  'bsread source',
  'bsread simulator',
  'NATS connection',
  'PostgreSQL pool',
] as const;
type StopStep = (typeof stopSteps)[number];
type JobContextPreparers = Preparers[string];

/** The event subjects live under `<subjectPrefix>.events`. */
export const eventSubjectPrefix = (config: Pick<DaqflowConfig, 'subjectPrefix'>): string =>
  `${config.subjectPrefix}.events`;

/** Connects to the event store (ensuring its JetStream stream) with the configured names. */
export const openEventStore = async (
  config: Pick<DaqflowConfig, 'stream' | 'subjectPrefix' | 'streamReplicas' | 'natsUrl' | NatsConfigKey> & { readonly explicit?: ReadonlySet<string> },
  natsUrl: string,
  name: string,
  logger: Logger,
  definitions: readonly ActorDefinition[] = allActorDefinitions,
  /**
   * How long to wait for NATS and JetStream while they do not answer yet (a server still
   * starting, a cluster electing leaders); 0, as the tools have it, tries once.
   */
  waitMs = 0,
): Promise<{ nc: NatsConnection; store: EventStore; schemas: EventSchemas; replicas: number }> => {
  const schemas = new EventSchemas();
  for (const definition of definitions) schemas.register(definition.kind, definition.eventSchemas);
  const settings = natsSettingsOf(config, natsUrl);
  const { nc, replicas } = await untilJetStreamReady(
    async () => {
      const nc = await connectNats(settings, name);
      try {
        const jsm = await jetstreamManager(nc).catch((e: unknown) => {
          throw toStoreError(e, 'reaching JetStream');
        });
        const info = await ensureEventStream(
          jsm,
          { stream: config.stream, subjectPrefix: eventSubjectPrefix(config) },
          {
            replicas: config.streamReplicas,
            nc,
            onOperatorSettings: (differences) => {
              logger.info(
                { stream: config.stream, differences: differences.map(({ field, have, want }) => ({ field, have, daqflow: want })) },
                'the event stream keeps the operator\'s settings where they differ from daqflow\'s defaults (`daqflow stream check` lists them)',
              );
              const replicas = differences.find((d) => d.field === 'num_replicas');
              // Asked for explicitly and not what the stream has: said louder, the stream stays.
              if (replicas && config.explicit?.has('streamReplicas')) {
                logger.warn(
                  { stream: config.stream, replicas: replicas.have, asked: replicas.want },
                  `stream ${config.stream} has ${String(replicas.have)} replica(s) and DAQFLOW_STREAM_REPLICAS asks for ${String(replicas.want)}: \`daqflow up\` does not change an existing stream, \`daqflow stream apply\` does`,
                );
              }
            },
          },
        );
        // What the stream has, which may be the operator's and not DAQFLOW_STREAM_REPLICAS.
        return { nc, replicas: info.config.num_replicas ?? 1 };
      } catch (e) {
        await nc.close();
        throw e;
      }
    },
    {
      servers: settings.servers,
      timeoutMs: waitMs,
      onWait: (reason, delayMs) => logger.warn({ servers: settings.servers, retryInMs: delayMs }, `waiting for JetStream: ${reason}`),
    },
  );
  const store = createJetStreamEventStore({
    nc,
    stream: config.stream,
    subjectPrefix: eventSubjectPrefix(config),
    schemas,
    // A message that does not decode is skipped by every reader; it must at least be seen.
    onCorrupt: (position, error) =>
      logger.error({ position, err: error, stream: config.stream }, 'event does not decode: skipped'),
  });
  return { nc, store, schemas, replicas };
};

/**
 * Starts every role of daqflow in this process against the given servers: migrations, the
 * actor runtime (recovering unfinished actors), the projector, and the NATS request API.
 */
export const startDaqflow = async (
  config: DaqflowConfig,
  urls: { natsUrl: string; databaseUrl: string },
  logger: PinoLogger,
  /** The job kinds to host (default: every registered one); a spec adds a kind of its own. */
  jobModules: readonly JobModule[] = registeredJobModules,
): Promise<Daqflow> => {
  const allActorDefinitions = jobModules.map((m) => m.definition);
  const roles = resolveRoles(config.roles, jobModules.map((m) => m.name));
  const roleOfStoredKind = new Map(jobModules.map((m) => [m.storedKind, m.name]));
  const roleOfKind = (kind: string): string => roleOfStoredKind.get(kind) ?? kind;
  const hostsKind = (kind: string): boolean => roles.has(roleOfKind(kind));
  const allProjections = [...coreProjections, ...jobModules.flatMap((m) => m.projections ?? [])];
  const steps = new Map<StopStep, () => Promise<unknown>>();
  const metrics = createDaqflowMetrics({
    kinds: Object.fromEntries(jobModules.flatMap((m) => (m.metrics ? [[m.storedKind, m.metrics]] : []))),
  });
  const projectedListeners = new Set<(report: BatchReport) => void>();
  const postgresOutage = new OutageLog(
    logger,
    'PostgreSQL',
    'DAQFLOW_DATABASE_URL',
    'jobs go on, status queries answer STORE_UNAVAILABLE and the projections wait',
  );
  // Set once the database exists; an error before that is the connection attempt's own.
  let databaseWatch: DatabaseWatch | undefined;
  // Connections that end while the pool closes, or while the server stops after it, are no outage.
  let closingPool = false;
  const db = createDb(urls.databaseUrl, {
    onConnectionError: (err) => {
      if (closingPool) return;
      if (databaseWatch) databaseWatch.failed(err);
      else postgresOutage.down(err);
    },
  });
  steps.set('PostgreSQL pool', () => db.destroy());
  const natsOutage = new OutageLog(
    logger,
    'NATS',
    'DAQFLOW_NATS_URL',
    'commands cannot be taken and outcomes wait to be recorded; acquisitions keep writing',
  );
  const runSteps = async (onStep?: (step: string) => void): Promise<void> => {
    for (const step of stopSteps) {
      const run = steps.get(step);
      if (!run) continue;
      onStep?.(step);
      logger.debug({ step }, 'stopping');
      await run().catch((e: unknown) => logger.warn({ err: e, step }, 'error during shutdown'));
    }
  };
  try {
    const migrations = await migrateToLatest(db);
    const applied = (migrations.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
    if (applied.length) logger.info({ applied }, 'database migrated');
    databaseWatch = watchDatabase(db, postgresOutage);
    const watch = databaseWatch;
    steps.set('PostgreSQL pool', async () => {
      closingPool = true;
      watch.stop();
      await db.destroy();
    });
    const { nc, store, schemas, replicas: streamReplicas } = await openEventStore(config, urls.natsUrl, 'daqflow', logger, allActorDefinitions, config.startTimeoutMs);
    watchConnection(nc, natsOutage);
    steps.set('NATS connection', () => closeNats(nc));
    const source = dataLoggerFromConfig(config);
    logger.info({ source: source.name, dataRoot: config.dataRootDir, timeZone: config.timeZone }, 'grab runs read from this data logger');
    // No stream configured: a simulated one in this process, as the data logger has its simulator.
    const simulated = config.bsreadStream ? undefined : await startDefaultSimulator();
    if (simulated) {
      steps.set('bsread simulator', () => simulated.stop());
      logger.info({ address: simulated.address, rateHz: DEFAULT_SIMULATOR_RATE_HZ }, 'no DAQFLOW_BSREAD_STREAM: acquisitions read a simulated bsread stream');
    }
    // An acquisition's file is written on a thread of its own; one is started now, so the first
    // acquisition does not wait for h5wasm to load in it (0.4 s idle, seconds on a busy machine).
    // Before the bsread source: warm() forks the page-cache releaser, cheap while the ring buffer is empty.
    const writerThreads = sharedWriterThreadPool();
    writerThreads.warm();
    steps.set('writer threads', () => writerThreads.close());
    const bsread = startBsreadSource({
      address: config.bsreadStream ?? simulated!.address,
      mode: config.bsreadStream ? config.bsreadMode : 'pull',
      transport: config.bsreadReceiver,
      bufferLength: config.bufferLength,
      // A real stream's receive memory is made resident now; the simulator's demo stays light.
      prefault: config.bsreadStream !== undefined,
      ...(config.bsreadRepublish ? { republishAddress: config.bsreadRepublish } : {}),
      logger: logger.child({ component: 'bsread' }),
    });
    steps.set('bsread source', () => bsread.close());
    // Bound once the runtime exists: a schedule's fire and the notifier go through it.
    const bound: { runtime?: ActorRuntime; processId?: string } = {};
    const preparers: Record<string, JobContextPreparers> = {};
    const contextOf = (module: JobModule): JobContext => ({
      config,
      logger: logger.child({ component: module.storedKind }),
      db,
      store,
      dataLogger: source,
      bsread: () => bsread,
      processId: () => bound.processId,
      runtime: () => {
        if (!bound.runtime) throw new Error('the runtime is not started yet');
        return bound.runtime;
      },
      definitions: allActorDefinitions,
      preparers: () => preparers,
    });
    const effects: Record<string, EffectHandlers> = {};
    for (const module of jobModules) {
      const context = contextOf(module);
      effects[module.storedKind] = await module.effects(context);
      const prepare = await module.preparers?.(context);
      if (prepare) preparers[module.storedKind] = prepare;
    }
    const placements = new Map(jobModules.flatMap((m) => (m.placement ? [[m.storedKind, m.placement(contextOf(m))] as const] : [])));
    // Ready means ready for a first acquisition at the stream's full rate (frameArena.ts); the
    // memory is made resident on a thread of its own while the job modules were set up.
    await bsread.prefaulted;
    // Presence first: actors this process claims must never name a process the others cannot see.
    const leases = await startLeases({
      nc,
      stream: config.stream,
      // The leases outlive what the stream outlives: as many replicas as it has, or as asked when more.
      replicas: Math.max(config.streamReplicas, streamReplicas),
      node: config.node,
      roles: roles.names,
      roleOfKind,
      projectorRole: roles.has('projector'),
      placement: (kind) => placements.get(kind),
      settings: { ttlMs: config.leaseTtlMs },
      logger: logger.child({ component: 'leases' }),
      startWaitMs: config.startTimeoutMs,
      servers: natsSettingsOf(config, urls.natsUrl).servers,
    });
    const runtime = new ActorRuntime({
      store: meteredEventStore(store, (event) => metrics.appended(event)),
      ownership: leases,
      schemas,
      definitions: allActorDefinitions,
      effects: Object.fromEntries(Object.entries(effects).map(([kind, handlers]) => [kind, metrics.instrumentEffects(kind, handlers)])),
      logger: logger.child({ component: 'runtime' }),
      newId,
    });
    // Effects get a share of the time a stop may take; what is still running after it resumes
    // from its events at the next start.
    // Set once the runtime has started; the stop step may run before that (a failed start).
    const following: { follower?: { stop(): Promise<void> } } = {};
    steps.set('actor runtime', async () => {
      await following.follower?.stop();
      await runtime.stop(Math.min(5_000, Math.floor(config.shutdownTimeoutMs / 2)));
      // Its presence removed, the others take its actors over at their next scan.
      await leases.stop();
    });
    leases.bind(runtime);
    bound.runtime = runtime;
    bound.processId = leases.processId;
    const projectorLogger = logger.child({ component: 'projector' });
    // The thread has its own connections and reports no batches to this process: the metrics and
    // the status pages' live feed follow the projector only when it runs inline.
    const startLiveProjector = (): Projector =>
      config.projector === 'thread'
        ? startProjectorThread(
            { nats: natsSettingsOf(config, urls.natsUrl), databaseUrl: urls.databaseUrl, stream: config.stream, subjectPrefix: eventSubjectPrefix(config) },
            projectorLogger,
          )
        : startProjector({
            db,
            store,
            projections: allProjections,
            logger: projectorLogger,
            isTransient: isDatabaseUnavailable,
            onBatch: (report) => {
              metrics.projectorBatch(report);
              for (const listener of projectedListeners) listener(report);
            },
          });
    // One process at a time runs it (its lease); the others stand by and read its checkpoint.
    const projector = leasedProjector(startLiveProjector, db, projectorLogger);
    if (roles.has('projector')) leases.onProjectorLease((held) => projector.held(held));
    metrics.bind({ db, store, projector, bsread });
    steps.set('projector', async () => {
      // What the runtime appended up to its stop goes into the tables now rather than at the
      // next start, unless the servers are away or it takes long.
      await flushProjector(projector, store, FLUSH_MS).catch((e: unknown) =>
        logger.warn({ err: e }, 'the projections did not catch up before the stop; the next start catches up'),
      );
      await projector.stop();
    });
    // The follower starts where the stream stood before the actors were rebuilt: what others append
    // meanwhile is folded by the owner once, whichever comes first.
    const followFrom = (await store.lastPosition()) + 1;
    await runtime.start();
    following.follower = followStream({
      store,
      from: followFrom,
      hostsKind,
      owns: (kind, id) => leases.owns(kind, id),
      follow: (kind, id, version) => runtime.follow(kind, id, version),
      noticed: (kind, id, final) => leases.noticed(kind, id, final),
      logger: logger.child({ component: 'follower' }),
    });
    leases.start();
    const kinds = [];
    for (const module of jobModules) {
      if (!module.service || !roles.has('api')) continue;
      const prepare = module.apiPreparers
        ? await module.apiPreparers(contextOf(module))
        : apiPreparers(preparers, module.storedKind, () => new Date());
      kinds.push({
        kind: module.storedKind,
        serviceName: serviceNameOf(module),
        group: module.name,
        definition: module.definition,
        ...(module.service.description === undefined ? {} : { description: module.service.description }),
        ...(prepare ? { prepare } : {}),
      });
    }
    if (roles.has('api')) {
      const api = await startApi(nc, {
        runtime,
        queries: createStatusQueries(db),
        logger: logger.child({ component: 'api' }),
        kinds,
        subjectPrefix: config.subjectPrefix,
        processMetadata: { process: leases.processId, node: config.node, roles: roles.names.join(',') },
        ownedHere: (kind) => runtime.ownedCounts()[kind] ?? 0,
      });
      steps.set('request API', () => api.stop());
    }
    const services: JobService[] = [];
    const stopAll = (stopWith: JobService['stopWith']) => async (): Promise<void> => {
      for (const service of services.filter((s) => s.stopWith === stopWith)) {
        logger.debug({ step: service.name }, 'stopping');
        await service.stop().catch((e: unknown) => logger.warn({ err: e, step: service.name }, 'error during shutdown'));
      }
    };
    steps.set('job services', stopAll('requests'));
    steps.set('job clean-up', stopAll('effects'));
    for (const module of jobModules) {
      if (roles.has(module.name)) services.push(...((await module.start?.(contextOf(module))) ?? []));
    }
    let stopping: Promise<void> | undefined;
    return {
      nc,
      store,
      db,
      runtime,
      projector,
      bsread,
      metrics,
      roles,
      leases,
      onProjected: (listener) => {
        projectedListeners.add(listener);
        return () => projectedListeners.delete(listener);
      },
      health: () => ({ nats: natsOutage.state(), postgres: postgresOutage.state() }),
      stop: (onStep) => (stopping ??= runSteps(onStep)),
    };
  } catch (e) {
    await runSteps();
    throw e;
  }
};

/**
 * The configuration of a daqflow run for the time of one command (`demo`, `grab` without a
 * running `daqflow up`): the projector inline unless configured, since loading its thread takes
 * seconds that such a run spends waiting for its own projections.
 */
export const oneCommandConfig = (config: DaqflowConfig): DaqflowConfig =>
  config.explicit.has('projector') ? config : { ...config, projector: 'inline' };

/** How long a stop waits for the projector to catch up with the stream. */
const FLUSH_MS = 2_000;

const flushProjector = async (projector: Projector, store: EventStore, ms: number): Promise<void> =>
  withTimeout(
    (async () => projector.caughtUp(await store.lastPosition()))(),
    ms,
    'catching up with the stream',
  );
