/**
 * The live projector alone in a process of its own, for the bench's `projectorLag` rows:
 *
 *   node --import tsx bench/projectorChild.ts --nats URL --stream NAME --subject-prefix PREFIX --db URL [--batch-size N]
 *
 * Runs `startProjector` on the given stream and database until SIGTERM, then prints one JSON
 * line on stdout: the batches it wrote (count, events, milliseconds) and its CPU seconds.
 */
import { parseArgs } from 'node:util';
import { allActorDefinitions } from '../adapters/jobs/registry.js';
import { closeNats, connectNats } from '../adapters/jetstream/connection.js';
import { createJetStreamEventStore } from '../adapters/jetstream/jetstreamEventStore.js';
import { createDb } from '../adapters/postgres/createDb.js';
import { EventSchemas } from '../events/eventSchemas.js';
import { startProjector } from '../projections/projector.js';
import { allProjections } from '../adapters/jobs/registry.js';

const { values } = parseArgs({
  options: {
    nats: { type: 'string' },
    stream: { type: 'string' },
    'subject-prefix': { type: 'string' },
    db: { type: 'string' },
    'batch-size': { type: 'string' },
  },
});
const nc = await connectNats(values.nats!, 'daqflow-bench-projector');
const schemas = new EventSchemas();
for (const definition of allActorDefinitions) schemas.register(definition.kind, definition.eventSchemas);
const store = createJetStreamEventStore({ nc, stream: values.stream!, subjectPrefix: values['subject-prefix']!, schemas });
const db = createDb(values.db!, { max: 2 });
const batches = { count: 0, events: 0, ms: 0 };
const projector = startProjector({
  db,
  store,
  projections: allProjections,
  ...(values['batch-size'] ? { batchSize: Number(values['batch-size']) } : {}),
  onBatch: (b) => {
    batches.count++;
    batches.events += b.applied;
    batches.ms += b.ms;
  },
});
process.stderr.write('projector child: started\n');
process.on('SIGTERM', () => {
  void (async () => {
    await projector.stop();
    await store.close();
    await closeNats(nc);
    await db.destroy();
    const cpu = process.cpuUsage();
    process.stdout.write(`${JSON.stringify({ batches, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
    process.exit(0);
  })();
});
