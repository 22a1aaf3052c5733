import { parentPort, workerData } from 'node:worker_threads';
import { allActorDefinitions } from '../jobs/registry.js';
import { EventSchemas } from '../../events/eventSchemas.js';
import { startProjector, type ProjectorLogger } from '../../projections/projector.js';
import { allProjections } from '../jobs/registry.js';
import { closeNats, connectNats } from '../jetstream/connection.js';
import { createJetStreamEventStore } from '../jetstream/jetstreamEventStore.js';
import { createDb } from '../postgres/createDb.js';
import { isDatabaseUnavailable } from '../postgres/databaseUnavailable.js';
import type { FromProjectorThread, ProjectorThreadData, ToProjectorThread } from './projectorThreadProtocol.js';

const port = parentPort!;
const data = workerData as ProjectorThreadData;
const post = (message: FromProjectorThread): void => port.postMessage(message);

const logAt =
  (level: 'debug' | 'info' | 'warn' | 'error') =>
  (obj: object, msg: string): void => {
    try {
      post({ op: 'log', level, obj, msg });
    } catch {
      // Something in obj does not clone (a socket on an error): the message still goes.
      post({ op: 'log', level, obj: { detail: String((obj as { err?: unknown }).err ?? '') }, msg });
    }
  };
const logger: ProjectorLogger = { debug: logAt('debug'), info: logAt('info'), warn: logAt('warn'), error: logAt('error') };

const schemas = new EventSchemas();
for (const definition of allActorDefinitions) schemas.register(definition.kind, definition.eventSchemas);
const nc = await connectNats(data.nats, 'daqflow-projector');
const store = createJetStreamEventStore({
  nc,
  stream: data.stream,
  subjectPrefix: data.subjectPrefix,
  schemas,
  onCorrupt: (position, error) => logger.error({ position, err: error, stream: data.stream }, 'event does not decode: skipped'),
});
// The outage itself is logged by the main thread's watch of the same database.
const db = createDb(data.databaseUrl, { max: 2, onConnectionError: () => undefined });
const projector = startProjector({
  db,
  store,
  projections: allProjections,
  logger,
  isTransient: isDatabaseUnavailable,
  onBatch: (batch) => post({ op: 'position', position: batch.position }),
});

port.on('message', (message: ToProjectorThread) => {
  if (message.op === 'caughtUp') {
    projector.caughtUp(message.position).then(
      () => post({ op: 'reached', id: message.id }),
      // Stopping: the main thread rejects its own waiters.
      () => undefined,
    );
    return;
  }
  void (async () => {
    await projector.stop();
    await store.close();
    await closeNats(nc);
    await db.destroy();
    post({ op: 'stopped' });
    port.close();
  })();
});
