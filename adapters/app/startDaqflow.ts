import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Kysely } from 'kysely';
import type { Logger as PinoLogger } from 'pino';
import { allActorDefinitions } from '../../actors/registry.js';
import { ActorRuntime } from '../../actors/runtime/actorRuntime.js';
import type { Logger } from '../../actors/runtime/logger.js';
import { EventSchemas } from '../../events/eventSchemas.js';
import type { EventStore } from '../../events/eventStore.js';
import type { Database } from '../../projections/database.js';
import { startProjector, type Projector } from '../../projections/projector.js';
import { allProjections } from '../../projections/registry.js';
import type { DaqflowConfig } from '../config/config.js';
import { createAcquisitionEffects } from '../acquisition/acquisitionEffects.js';
import { sharedWriterThreadPool } from '../hdf5/swissfelWriterThread.js';
import { startBsreadSource, type BsreadSource } from '../acquisition/bsreadSource.js';
import { DEFAULT_SIMULATOR_RATE_HZ, startDefaultSimulator } from '../acquisition/defaultSimulator.js';
import { createDemoEffects } from '../demo/demoEffects.js';
import { createReportEffects } from '../reportJob/reportEffects.js';
import { daqflowBin, reportRunners } from '../reportJob/reportRunners.js';
import { newId } from '../ids.js';
import { connectNats } from '../jetstream/connection.js';
import { ensureEventStream } from '../jetstream/eventStream.js';
import { createJetStreamEventStore } from '../jetstream/jetstreamEventStore.js';
import { startApi } from '../natsApi/startApi.js';
import { createDb } from '../postgres/createDb.js';
import { migrateToLatest } from '../postgres/migrate.js';
import { createGrabEffects } from '../grabRun/grabEffects.js';
import { sweepWorkFolders } from '../grabRun/sweepWorkFolders.js';
import { createScheduleEffects, type FireTarget } from '../schedule/scheduleEffects.js';
import { scheduleCreatePreparer } from '../schedule/scheduleCreatePreparer.js';
import { apiPreparers, createPreparers } from './commandPreparers.js';
import { createFireTarget } from './fireTarget.js';
import { dataLoggerFromConfig } from './dataLogger.js';
import { createStatusQueries } from './statusQueries.js';

/** Service names and subject groups of each actor kind's request API. */
export const actorServices = [
  { kind: 'demo', serviceName: 'daqflow-demo', group: 'demo' },
  {
    kind: 'grab',
    serviceName: 'daqflow-grabs',
    group: 'grabs',
    description:
      'grab runs: a time window of parameter data from the data logger to HDF5, with per-parameter statistics; start, cancel, get',
  },
  {
    kind: 'schedule',
    serviceName: 'daqflow-schedules',
    group: 'schedules',
    description: 'schedules: any command (such as a grab) on a cron expression; create, pause, resume, remove, get',
  },
  {
    kind: 'report',
    serviceName: 'daqflow-reports',
    group: 'reports',
    description:
      'report jobs: plots of the statistics database per instrument and detector, run on a local runner or Slurm, an HTML report, published; start, cancel, get',
  },
  {
    kind: 'acquisition',
    serviceName: 'daqflow-acquisitions',
    group: 'acquisitions',
    description:
      'writer acquisitions: pulses N..M of the bsread stream from the ring buffer to one HDF5 file (SwissFEL layout); start, stop, kill, get',
  },
] as const;

export interface Daqflow {
  readonly nc: NatsConnection;
  readonly store: EventStore;
  readonly db: Kysely<Database>;
  readonly runtime: ActorRuntime;
  readonly projector: Projector;
  /** The bsread stream (`DAQFLOW_BSREAD_STREAM`, else a simulated one) and its ring buffer. */
  readonly bsread: BsreadSource;
  stop(): Promise<void>;
}

/** The event subjects live under `<subjectPrefix>.events`. */
export const eventSubjectPrefix = (config: Pick<DaqflowConfig, 'subjectPrefix'>): string =>
  `${config.subjectPrefix}.events`;

/** Connects to the event store (ensuring its JetStream stream) with the configured names. */
export const openEventStore = async (
  config: Pick<DaqflowConfig, 'stream' | 'subjectPrefix'>,
  natsUrl: string,
  name: string,
  logger: Logger,
): Promise<{ nc: NatsConnection; store: EventStore; schemas: EventSchemas }> => {
  const nc = await connectNats(natsUrl, name);
  try {
    const schemas = new EventSchemas();
    for (const definition of allActorDefinitions) schemas.register(definition.kind, definition.eventSchemas);
    await ensureEventStream(await jetstreamManager(nc), { stream: config.stream, subjectPrefix: eventSubjectPrefix(config) });
    const store = createJetStreamEventStore({
      nc,
      stream: config.stream,
      subjectPrefix: eventSubjectPrefix(config),
      schemas,
      // A message that does not decode is skipped by every reader; it must at least be seen.
      onCorrupt: (position, error) =>
        logger.error({ position, err: error, stream: config.stream }, 'event does not decode: skipped'),
    });
    return { nc, store, schemas };
  } catch (e) {
    await nc.close();
    throw e;
  }
};

/**
 * Starts every role of daqflow in this process against the given servers: migrations, the
 * actor runtime (recovering unfinished actors), the projector, and the NATS request API.
 */
export const startDaqflow = async (
  config: DaqflowConfig,
  urls: { natsUrl: string; databaseUrl: string },
  logger: PinoLogger,
): Promise<Daqflow> => {
  const db = createDb(urls.databaseUrl);
  const cleanups: Array<() => Promise<unknown>> = [() => db.destroy()];
  try {
    const migrations = await migrateToLatest(db);
    const applied = (migrations.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
    if (applied.length) logger.info({ applied }, 'database migrated');
    const { nc, store, schemas } = await openEventStore(config, urls.natsUrl, 'daqflow', logger);
    cleanups.unshift(() => nc.drain());
    const source = dataLoggerFromConfig(config);
    logger.info({ source: source.name, dataRoot: config.dataRootDir, timeZone: config.timeZone }, 'grab runs read from this data logger');
    // No stream configured: a simulated one in this process, as the data logger has its simulator.
    const simulated = config.bsreadStream ? undefined : await startDefaultSimulator();
    if (simulated) {
      cleanups.unshift(() => simulated.stop());
      logger.info({ address: simulated.address, rateHz: DEFAULT_SIMULATOR_RATE_HZ }, 'no DAQFLOW_BSREAD_STREAM: acquisitions read a simulated bsread stream');
    }
    // An acquisition's file is written on a thread of its own; one is started now, so the first
    // acquisition does not wait for h5wasm to load in it (0.4 s idle, seconds on a busy machine).
    // Before the bsread source: warm() forks the page-cache releaser, cheap while the ring buffer is empty.
    const writerThreads = sharedWriterThreadPool();
    writerThreads.warm();
    cleanups.unshift(() => writerThreads.close());
    const bsread = startBsreadSource({
      address: config.bsreadStream ?? simulated!.address,
      mode: config.bsreadStream ? config.bsreadMode : 'pull',
      transport: config.bsreadReceiver,
      bufferLength: config.bufferLength,
      ...(config.bsreadRepublish ? { republishAddress: config.bsreadRepublish } : {}),
      logger: logger.child({ component: 'bsread' }),
    });
    cleanups.unshift(() => bsread.close());
    const preparers = createPreparers({
      source,
      dataRoot: config.dataRootDir,
      timeZone: config.timeZone,
      bsread: () => bsread,
      reportConfig: config.reportConfig,
    });
    // A schedule's fire goes through the runtime it belongs to: bound once the runtime exists.
    let fireTarget: FireTarget = () => Promise.reject(new Error('the runtime is not started yet'));
    const runtime = new ActorRuntime({
      store,
      schemas,
      definitions: allActorDefinitions,
      effects: {
        demo: createDemoEffects(),
        grab: createGrabEffects({ source, dataRoot: config.dataRootDir, logger: logger.child({ component: 'grab' }) }),
        schedule: createScheduleEffects({ fire: (...args) => fireTarget(...args) }),
        report: createReportEffects({
          db,
          runners: reportRunners(config),
          renderCommand: [process.execPath, daqflowBin, 'report', 'render-job'],
          logger: logger.child({ component: 'report' }),
        }),
        acquisition: createAcquisitionEffects({
          source: () => bsread,
          dataRoot: config.dataRootDir,
          logger: logger.child({ component: 'acquisition' }),
        }),
      },
      logger: logger.child({ component: 'runtime' }),
      newId,
    });
    cleanups.unshift(() => runtime.stop());
    fireTarget = createFireTarget(runtime, preparers);
    const projector = startProjector({
      db,
      store,
      projections: allProjections,
      logger: logger.child({ component: 'projector' }),
    });
    cleanups.unshift(() => projector.stop());
    await runtime.start();
    const api = await startApi(nc, {
      runtime,
      queries: createStatusQueries(db),
      logger: logger.child({ component: 'api' }),
      kinds: actorServices.map((entry) => {
        const prepare =
          entry.kind === 'schedule'
            ? {
                create: scheduleCreatePreparer({
                  timeZone: config.timeZone,
                  definitions: allActorDefinitions,
                  requestSchemaOf: (kind, command) => preparers[kind]?.[command]?.requestSchema,
                }),
              }
            : apiPreparers(preparers, entry.kind, () => new Date());
        return prepare ? { ...entry, prepare } : entry;
      }),
      subjectPrefix: config.subjectPrefix,
    });
    cleanups.unshift(() => api.stop());
    // Work folders of grab runs that finished while their clean-up was cut short (a kill).
    const sweeping = sweepWorkFolders(config.dataRootDir, store, { logger: logger.child({ component: 'grab' }) }).catch(
      (e: unknown) => logger.warn({ err: e }, 'could not sweep the work folders of finished grab runs'),
    );
    cleanups.unshift(() => sweeping);
    let stopping: Promise<void> | undefined;
    return {
      nc,
      store,
      db,
      runtime,
      projector,
      bsread,
      stop: () =>
        (stopping ??= (async () => {
          for (const cleanup of cleanups) {
            await cleanup().catch((e: unknown) => logger.warn({ err: e }, 'error during shutdown'));
          }
        })()),
    };
  } catch (e) {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    throw e;
  }
};
