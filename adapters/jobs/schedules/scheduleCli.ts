import type { NatsConnection } from '@nats-io/nats-core';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { DaqflowError, ValidationError } from '../../../events/errors.js';
import { connectNats } from '../../jetstream/connection.js';
import { cliContext, toolServers, withGlobalOptions, type GlobalOptions, natsOf } from '../../cli/context.js';
import { requestJson } from '../../cli/natsRequest.js';
import { localTime, scheduleTable, type ScheduleRow } from './scheduleTable.js';

/** Subject group of the schedule service under the prefix: `daqflow.schedules.create`. */
export const SCHEDULES_GROUP = 'schedules';

interface RequestOptions extends GlobalOptions {
  readonly timeoutMs: string;
}

interface AddOptions extends RequestOptions {
  readonly cron: string;
  readonly timeZone?: string;
  readonly missed?: 'catch-up' | 'skip';
  readonly graceSeconds?: string;
  readonly target: string;
  readonly payload?: string;
}

interface ListOptions extends RequestOptions {
  readonly all?: boolean;
  readonly json?: boolean;
}

interface RemoveOptions extends RequestOptions {
  readonly reason?: string;
}

interface ScheduleReply extends Record<string, unknown> {
  id: string;
  state: string;
  name?: string;
  timeZone?: string;
  nextFireAt?: string | null;
}

const missedOf = { 'catch-up': 'catchUp', skip: 'skip' } as const;

/** `grab.start` → the target's kind and its creating command. */
const parseTarget = (target: string): { kind: string; command: string } => {
  const match = /^([A-Za-z0-9_-]{1,128})\.([A-Za-z0-9_-]{1,128})$/.exec(target.trim());
  if (!match) {
    throw new ValidationError(`--target ${JSON.stringify(target)}: give <kind>.<command>, e.g. grab.start or demo.start`);
  }
  return { kind: match[1] as string, command: match[2] as string };
};

const parsePayload = (payload: string | undefined): Record<string, unknown> | undefined => {
  if (payload === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch (e) {
    throw new ValidationError(`--payload is not JSON: ${(e as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ValidationError('--payload must be a JSON object, e.g. \'{"parameters":["SARFE10-PBPG050:PHOTON-ENERGY"],"window":{"days":1}}\'');
  }
  return parsed as Record<string, unknown>;
};

/** Runs `work` with a NATS connection to the daqflow the configuration points at. */
const withNats = async <T>(options: GlobalOptions, work: (nc: NatsConnection, prefix: string) => Promise<T>): Promise<T> => {
  const context = cliContext(options, { logLevel: 'warn' });
  const servers = await toolServers(context);
  try {
    const nc = await connectNats(natsOf(context, servers), 'daqflow-schedule-cli');
    try {
      return await work(nc, context.config.subjectPrefix);
    } finally {
      await nc.close();
    }
  } finally {
    await servers.stop();
  }
};

// Schedules live in a running daqflow: a tool that started its own servers finds no one to ask.
const ask = <T>(nc: NatsConnection, subject: string, body: unknown, timeoutMs: string): Promise<T> =>
  requestJson<T>(nc, subject, body, Number(timeoutMs)).catch((e: unknown) => {
    if (e instanceof DaqflowError && e.code === 'STORE_UNAVAILABLE') {
      throw new DaqflowError('STORE_UNAVAILABLE', `${e.message}; schedules are kept by a running daqflow: start \`daqflow up\` first`);
    }
    throw e;
  });

const listSchedules = async (nc: NatsConnection, prefix: string, timeoutMs: string): Promise<ScheduleRow[]> =>
  (await ask<{ items: ScheduleRow[] }>(nc, `${prefix}.query.list`, { kind: 'schedule', limit: 1_000 }, timeoutMs)).items;

/** An id, or the name of a schedule that has not been removed. */
const resolveSchedule = async (nc: NatsConnection, prefix: string, idOrName: string, timeoutMs: string): Promise<string> => {
  const rows = (await listSchedules(nc, prefix, timeoutMs)).filter((r) => r.state !== 'removed');
  if (rows.some((r) => r.id === idOrName)) return idOrName;
  const named = rows.filter((r) => r.summary.name === idOrName);
  if (named.length > 1) {
    throw new ValidationError(`${named.length} schedules are named ${JSON.stringify(idOrName)}: give an id (${named.map((r) => r.id).join(', ')})`);
  }
  // Not in the status projection (yet): the service answers 404 if the id is unknown.
  return named[0]?.id ?? idOrName;
};

const describeSchedule = (reply: ScheduleReply): string => {
  const next = reply.nextFireAt ? `next fire ${localTime(reply.nextFireAt, reply.timeZone)} ${reply.timeZone ?? ''} (${reply.nextFireAt})` : 'no fire armed';
  return `schedule ${reply.id} ${JSON.stringify(reply.name ?? '')}: ${reply.state}, ${next}\n`;
};

const runAdd = (name: string, options: AddOptions): Promise<void> => {
  const target = parseTarget(options.target);
  const payload = parsePayload(options.payload);
  const body = {
    name,
    cron: options.cron,
    // Absent: the service fills in the configured zone.
    ...(options.timeZone === undefined ? {} : { timeZone: options.timeZone }),
    target: { ...target, ...(payload === undefined ? {} : { payload }) },
    ...(options.missed === undefined ? {} : { missed: missedOf[options.missed] }),
    ...(options.graceSeconds === undefined ? {} : { graceSeconds: Number(options.graceSeconds) }),
  };
  return withNats(options, async (nc, prefix) => {
    // Names are how people tell schedules apart; two live ones with one name is a mistake.
    const same = (await listSchedules(nc, prefix, options.timeoutMs)).filter((r) => r.state !== 'removed' && r.summary.name === name);
    if (same.length) {
      throw new DaqflowError('WRONG_STATE', `a schedule named ${JSON.stringify(name)} exists already (${same.map((r) => r.id).join(', ')}): remove it first, or pick another name`);
    }
    const reply = await ask<ScheduleReply>(nc, `${prefix}.${SCHEDULES_GROUP}.create`, body, options.timeoutMs);
    process.stdout.write(describeSchedule(reply));
  });
};

const runList = (options: ListOptions): Promise<void> =>
  withNats(options, async (nc, prefix) => {
    const rows = (await listSchedules(nc, prefix, options.timeoutMs)).filter((r) => options.all || r.state !== 'removed');
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ items: rows }, null, 2)}\n`);
      return;
    }
    if (rows.length === 0) {
      process.stdout.write("no schedules (add one: daqflow schedule add --help)\n");
      return;
    }
    process.stdout.write(`${scheduleTable(rows, { withId: true })}\n`);
  });

const runCommand =
  (command: 'pause' | 'resume' | 'remove') =>
  (idOrName: string, options: RemoveOptions): Promise<void> =>
    withNats(options, async (nc, prefix) => {
      const id = await resolveSchedule(nc, prefix, idOrName, options.timeoutMs);
      const body = command === 'remove' && options.reason !== undefined ? { id, reason: options.reason } : { id };
      const reply = await ask<ScheduleReply>(nc, `${prefix}.${SCHEDULES_GROUP}.${command}`, body, options.timeoutMs);
      process.stdout.write(describeSchedule(reply));
    });

const timeoutOption = (): Option =>
  new Option('--timeout-ms <ms>', 'how long to wait for the running daqflow to answer').default('5000').argParser((value) => {
    if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('a whole number of 1 or more');
    return value;
  });

/** Adds `daqflow schedule add|list|pause|resume|remove`, which talk to a running daqflow over NATS. */
export const registerScheduleCommands = (program: Command): void => {
  const schedule = program
    .command('schedule')
    .description('run a command (a grab, a demo job) on a cron expression, kept by the running daqflow')
    .addHelpText(
      'after',
      `
A schedule fires its target at each time of its cron expression, read in its time zone (DST
included). Its next fire time is stored as an event, so it survives restarts; a fire time that
passed while daqflow was down is caught up once at restart (--missed catch-up, the default) or
skipped (--missed skip). Each fire creates the target once, even when daqflow dies mid-fire.

Examples:
  npx daqflow schedule add nightly-grab --cron '0 1 * * *' --time-zone Europe/Zurich \\
      --target grab.start --payload '{"parameters":["SARFE10-PBPG050:PHOTON-ENERGY"],"window":{"days":1}}'
  npx daqflow schedule list
  npx daqflow schedule pause nightly-grab
  npx daqflow status                  schedules are listed after the actors`,
    );

  withGlobalOptions(
    schedule
      .command('add')
      .description('create a schedule')
      .argument('<name>', 'a name to tell it by (unique among schedules not removed)')
      .requiredOption('--cron <expression>', 'when to fire: "minute hour day-of-month month day-of-week", e.g. "0 1 * * *"')
      .option('--time-zone <zone>', "IANA zone the expression is read in, e.g. Europe/Zurich (default: daqflow's configured zone)")
      .addOption(
        new Option('--missed <policy>', 'a fire time that passed while daqflow was down: fire once at restart, or skip it (default catch-up)').choices([
          'catch-up',
          'skip',
        ]),
      )
      .option('--grace-seconds <s>', 'a fire later than this after its time counts as missed (default 60)', (value: string) => {
        if (!/^\d+$/.test(value)) throw new InvalidArgumentError('a whole number of seconds, 0 or more');
        return value;
      })
      .requiredOption('--target <kind.command>', 'what to run at each fire: an actor kind and its creating command, e.g. grab.start')
      .option('--payload <json>', "the target command's body as a JSON object (its request time is the fire time)")
      .addOption(timeoutOption())
      .addHelpText(
        'after',
        `
Cron expressions: five fields "minute hour day-of-month month day-of-week"; six with seconds
first; or @hourly, @daily, @weekly, @monthly, @yearly. "*/15 * * * *" is every quarter hour,
"0 1 * * 1-5" 01:00 on weekdays, "30 6 1 * *" 06:30 on the first of each month.

The payload is the body the target's start command takes. A grab's window is counted back from
the fire time, so a fire caught up after a restart grabs the window it would have grabbed on time.

Examples:
  # a nightly grab: daily at 01:00 over the last 24 h
  npx daqflow schedule add nightly-grab --cron '0 1 * * *' --time-zone Europe/Zurich \\
      --target grab.start --payload '{"parameters":["SARFE10-PBPG050:PHOTON-ENERGY"],"window":{"days":1}}'
  # a demo job every five minutes; missed ones are not made up
  npx daqflow schedule add demo-5min --cron '*/5 * * * *' --missed skip \\
      --target demo.start --payload '{"steps":3,"intervalMs":500}'`,
      ),
  ).action((name: string, _, command: Command) => runAdd(name, command.optsWithGlobals()));

  withGlobalOptions(
    schedule
      .command('list')
      .description('list the schedules with their next and last fire times (in their own zones)')
      .option('--all', 'include removed schedules')
      .option('--json', 'print the status rows as JSON')
      .addOption(timeoutOption()),
  ).action((_, command: Command) => runList(command.optsWithGlobals()));

  const verbs = {
    pause: 'stop firing until resumed (a fire under way still completes)',
    resume: 'fire again, from the next cron time after now (times passed while paused are not made up)',
    remove: 'end the schedule for good (targets it created are not touched)',
  } as const;
  for (const [verb, description] of Object.entries(verbs) as Array<[keyof typeof verbs, string]>) {
    const sub = schedule
      .command(verb)
      .description(description)
      .argument('<id-or-name>', 'the schedule, by id or by name (see daqflow schedule list)')
      .addOption(timeoutOption())
      .addHelpText('after', `\nExample:\n  npx daqflow schedule ${verb} nightly-grab`);
    if (verb === 'remove') sub.option('--reason <text>', 'why, kept in its history');
    withGlobalOptions(sub).action((idOrName: string, _, command: Command) => runCommand(verb)(idOrName, command.optsWithGlobals()));
  }
};
