import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { NatsConnection } from '@nats-io/nats-core';
import cliProgress from 'cli-progress';
import { InvalidArgumentError, type Command } from 'commander';
import type { SeriesStatistics } from '../../../actors/grabs/parameterStatistics.js';
import { ValidationError } from '../../../events/errors.js';
import { withDaqflow } from '../../cli/withDaqflow.js';
import { connectNats } from '../../jetstream/connection.js';
import { cliContext, toolServers, withGlobalOptions, withToolNats, type GlobalOptions, natsOf } from '../../cli/context.js';
import { table } from '../../cli/format.js';
import { readJsonPatiently, requestJson } from '../../cli/natsRequest.js';

/** What `grabs.get` answers (the grab actor's summary plus the core fields). */
export interface GrabView {
  id: string;
  state: string;
  final: boolean;
  version: number;
  mode?: string;
  /** In live replies only (not in status rows: see parameterCount). */
  parameters?: string[];
  parameterCount?: number;
  window?: { start: string; stop: string };
  outputFile?: string | null;
  progress?: {
    chunksDone: number;
    chunksTotal: number;
    samples: number;
    bytes: number;
    attempt: number;
    retryAt: string | null;
    lastFailure: string | null;
  };
  error?: string;
}

/** A parameter's statistics as the run's `fileWritten` event carries them (the table shows these fields). */
type StatisticsRow = SeriesStatistics & { parameter: string; units: string | null; interval: Pick<SeriesStatistics, 'mean' | 'min' | 'max'> };

interface GrabOptions extends GlobalOptions {
  readonly paramFile?: string;
  readonly stopat?: string;
  readonly startat?: string;
  readonly days?: number;
  readonly hours?: number;
  readonly minutes?: number;
  readonly seconds?: number;
  readonly draftdir?: string;
  readonly outdir?: string;
  readonly chunkSeconds?: number;
  readonly maxEvt?: number;
  readonly eventChannel?: string;
  readonly firstOnly?: boolean;
  readonly requestId?: string;
  readonly detach?: boolean;
  readonly json?: boolean;
}

const number = (what: string) => (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${what}: a number of 0 or more`);
  return n;
};
const positiveInt = (value: string): number => {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('a whole number of 1 or more');
  return Number(value);
};
const eventCode = (value: string): number => {
  const n = /^0x[0-9a-f]+$/i.test(value) ? parseInt(value, 16) : /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 255) throw new InvalidArgumentError('an event code 0..255, decimal or hex (0xFF)');
  return n;
};

/** Parameter list file: one name a line; `#` starts a comment; blank lines are skipped. */
export const parseParameterList = (text: string): string[] =>
  text
    .split(/\r?\n/)
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter((line) => line.length > 0);

const windowBody = (o: GrabOptions): Record<string, unknown> => {
  const window = Object.fromEntries(
    (['days', 'hours', 'minutes', 'seconds'] as const).filter((k) => o[k] !== undefined).map((k) => [k, o[k]]),
  );
  return {
    ...(o.stopat ? { stopAt: o.stopat } : {}),
    ...(o.startat ? { startAt: o.startat } : {}),
    ...(Object.keys(window).length ? { window } : {}),
    ...(o.draftdir ? { draftDir: o.draftdir } : {}),
    ...(o.outdir ? { outDir: o.outdir } : {}),
    ...(o.chunkSeconds ? { chunkSeconds: o.chunkSeconds } : {}),
    ...(o.requestId ? { requestId: o.requestId } : {}),
  };
};

const fmt = (x: number | null | undefined, digits = 6): string =>
  x === null || x === undefined ? '-' : Number.isInteger(x) ? String(x) : x.toPrecision(digits);

const mib = (bytes: number): string => `${(bytes / 1_048_576).toFixed(1)} MiB`;

/**
 * Follows a grab run until it ends, drawing a progress bar (chunks, samples, bytes) on stderr.
 * Ctrl-C stops following only: the run goes on in the daqflow that hosts it.
 */
export const followGrab = async (nc: NatsConnection, prefix: string, id: string, pollMs = 300): Promise<GrabView> => {
  const tty = process.stderr.isTTY === true;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: 'grab {id} |{bar}| {percentage}% {value}/{total} chunks | {samples} samples | {size} | {state}{note}',
      hideCursor: tty,
      noTTYOutput: !tty,
      notTTYSchedule: 5_000,
      clearOnComplete: false,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  let view = await readJsonPatiently<GrabView>(nc, `${prefix}.grabs.get`, { id });
  const payload = (v: GrabView) => ({
    id,
    samples: v.progress?.samples ?? 0,
    size: mib(v.progress?.bytes ?? 0),
    state: v.state,
    note: v.progress?.retryAt ? ` (retry ${v.progress.attempt + 1} at ${v.progress.retryAt})` : '',
  });
  bar.start(Math.max(1, view.progress?.chunksTotal ?? 1), view.progress?.chunksDone ?? 0, payload(view));
  try {
    while (!view.final) {
      await new Promise((r) => setTimeout(r, pollMs));
      view = await readJsonPatiently<GrabView>(nc, `${prefix}.grabs.get`, { id });
      bar.setTotal(Math.max(1, view.progress?.chunksTotal ?? 1));
      bar.update(view.progress?.chunksDone ?? 0, payload(view));
    }
  } finally {
    bar.stop();
  }
  return view;
};

/** The run's statistics, from its `fileWritten` event (read from the stream through the history query). */
export const grabStatistics = async (nc: NatsConnection, prefix: string, id: string): Promise<StatisticsRow[]> => {
  for (let i = 0; i < 50; i++) {
    const history = await requestJson<{ events: Array<{ type: string; data: { statistics?: StatisticsRow[] } }> }>(
      nc,
      `${prefix}.query.history`,
      { id },
    ).catch(() => ({ events: [] }));
    const written = history.events.find((e) => e.type === 'fileWritten');
    if (written?.data.statistics) return written.data.statistics;
    await new Promise((r) => setTimeout(r, 100));
  }
  return [];
};

export const statisticsTable = (rows: readonly StatisticsRow[]): string =>
  table(
    ['PARAMETER', 'UNITS', 'COUNT', 'NAN', 'MIN', 'MAX', 'MEAN', 'STD', 'MODE', 'DT MEAN [s]'],
    rows.map((r) => [
      r.parameter,
      r.units ?? '',
      String(r.count),
      String(r.nanCount),
      fmt(r.min),
      fmt(r.max),
      fmt(r.mean),
      fmt(r.std),
      fmt(r.mode),
      fmt(r.interval.mean, 4),
    ]),
  );

const startAndFollow = async (body: Record<string, unknown>, options: GrabOptions): Promise<void> => {
  const context = cliContext(options, { logLevel: 'warn' });
  const prefix = context.config.subjectPrefix;
  await withDaqflow(context, `${prefix}.grabs.get`, async (nc, inProcess) => {
    // A request id of our own: when the answer is slow to come (the data logger checks every
    // parameter), asking again gets the run the first request made, never a second one.
    const request = { requestId: `cli-${randomUUID()}`, ...body };
    const started = await requestJson<GrabView>(nc, `${prefix}.grabs.start`, request, 30_000).catch(async (e: unknown) => {
      if (!(e instanceof Error) || !/no answer/.test(e.message)) throw e;
      process.stderr.write('no answer in 30 s: asking again with the same request id\n');
      return requestJson<GrabView>(nc, `${prefix}.grabs.start`, request, 60_000);
    });
    process.stderr.write(
      `grab ${started.id}: ${started.parameterCount ?? started.parameters?.length ?? 0} ${started.mode === 'events' ? 'event channels' : 'parameters'}, ` +
        `${started.window?.start} to ${started.window?.stop}, ${started.progress?.chunksTotal ?? '?'} chunks\n`,
    );
    if (options.detach) {
      if (inProcess) process.stderr.write('note: --detach with no daqflow running: the run resumes when `npx daqflow up` starts\n');
      process.stdout.write(options.json ? `${JSON.stringify(started)}\n` : `${started.id}\n`);
      return;
    }
    const onSignal = (): void => {
      process.stderr.write(
        `\nstopped following; grab ${started.id} ${inProcess ? 'resumes when daqflow runs again' : 'goes on'}: npx daqflow grab get ${started.id}\n`,
      );
      process.exit(130);
    };
    process.once('SIGINT', onSignal);
    try {
      const view = await followGrab(nc, prefix, started.id);
      const stats = view.state === 'completed' ? await grabStatistics(nc, prefix, started.id) : [];
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ ...view, statistics: stats }, null, 2)}\n`);
      } else {
        if (stats.length) process.stdout.write(`${statisticsTable(stats)}\n`);
        process.stdout.write(
          view.state === 'completed'
            ? `grab ${view.id} completed: ${view.outputFile} (${view.progress?.samples ?? 0} samples)\n`
            : `grab ${view.id} ended ${view.state}${view.error ? `: ${view.error}` : ''}\n`,
        );
      }
      if (view.state !== 'completed') process.exitCode = 1;
    } finally {
      process.off('SIGINT', onSignal);
    }
  });
};

const runParams = async (names: string[], options: GrabOptions): Promise<void> => {
  const parameters = [...names];
  if (options.paramFile) {
    let text: string;
    try {
      text = await readFile(options.paramFile, 'utf8');
    } catch (e) {
      throw new ValidationError(`cannot read the parameter list ${options.paramFile}: ${(e as Error).message}`);
    }
    parameters.push(...parseParameterList(text));
  }
  if (parameters.length === 0) {
    throw new ValidationError('no parameters: name them after `grab params`, or give a list with --param-file');
  }
  await startAndFollow({ mode: 'parameters', parameters, ...windowBody(options) }, options);
};

const runEvents = async (options: GrabOptions): Promise<void> => {
  await startAndFollow(
    {
      mode: 'events',
      ...(options.maxEvt !== undefined ? { maxEvt: options.maxEvt } : {}),
      ...(options.eventChannel ? { eventChannel: options.eventChannel } : {}),
      ...(options.firstOnly ? { firstOnly: true } : {}),
      ...windowBody(options),
    },
    options,
  );
};

const runGet = async (id: string, options: GrabOptions & { follow?: boolean }): Promise<void> => {
  const context = cliContext(options, { logLevel: 'warn' });
  const prefix = context.config.subjectPrefix;
  const servers = await toolServers(context);
  const nc = await connectNats(natsOf(context, servers), 'daqflow-cli');
  try {
    const view = options.follow
      ? await followGrab(nc, prefix, id)
      : await requestJson<GrabView>(nc, `${prefix}.grabs.get`, { id });
    if (options.json) {
      process.stdout.write(`${JSON.stringify(view, null, 2)}\n`);
      return;
    }
    const p = view.progress;
    process.stdout.write(
      [
        `grab ${view.id}: ${view.state}`,
        `  window     ${view.window?.start} to ${view.window?.stop}`,
        `  ${view.mode === 'events' ? 'channels ' : 'parameters'} ${view.parameters?.length ?? 0}: ${(view.parameters ?? []).slice(0, 8).join(', ')}${(view.parameters?.length ?? 0) > 8 ? ', …' : ''}`,
        `  progress   ${p?.chunksDone ?? 0}/${p?.chunksTotal ?? 0} chunks, ${p?.samples ?? 0} samples, ${mib(p?.bytes ?? 0)}`,
        ...(p?.retryAt ? [`  retry      attempt ${p.attempt + 1} at ${p.retryAt}`] : []),
        ...(p?.lastFailure ? [`  last error ${p.lastFailure}`] : []),
        ...(view.outputFile ? [`  file       ${view.outputFile}`] : []),
        ...(view.error ? [`  error      ${view.error}`] : []),
      ].join('\n') + '\n',
    );
    if (view.state === 'completed') {
      const stats = await grabStatistics(nc, prefix, id);
      if (stats.length) process.stdout.write(`${statisticsTable(stats)}\n`);
    }
  } finally {
    await nc.close();
    await servers.stop();
  }
};

const runCancel = async (id: string, options: GrabOptions & { reason?: string }): Promise<void> => {
  const context = cliContext(options, { logLevel: 'warn' });
  const prefix = context.config.subjectPrefix;
  await withToolNats(context, async (nc) => {
    const view = await requestJson<GrabView>(nc, `${prefix}.grabs.cancel`, { id, reason: options.reason ?? 'cancelled from the command line' });
    process.stdout.write(`grab ${view.id}: ${view.state}\n`);
  });
};

const windowOptions = (command: Command): Command =>
  command
    .option('--stopat <time>', 'end of the window: "YYYY-MM-DD hh:mm:ss" in DAQFLOW_TIMEZONE, ISO 8601, or "now" (default: last midnight)')
    .option('--startat <time>', 'start of the window, instead of a length')
    .option('--days <n>', 'days before the stop time', number('--days'))
    .option('--hours <n>', 'hours before the stop time', number('--hours'))
    .option('--minutes <n>', 'minutes before the stop time', number('--minutes'))
    .option('--seconds <n>', 'seconds before the stop time (all four zero or absent: 1 second)', number('--seconds'))
    .option('--draftdir <dir>', 'folder of the draft while it is written; relative to DAQFLOW_DATA_ROOT, and inside it (default <data root>/drafts)')
    .option('--outdir <dir>', 'folder of the finished file; relative to DAQFLOW_DATA_ROOT (not the current folder), and inside it (default: the data root)')
    .option('--chunk-seconds <n>', 'length of one chunk in seconds, the unit of progress and of resumption (default 21600 = 6 h)', positiveInt)
    .option('--request-id <id>', 'idempotency key: sending the same grab again returns the first run')
    .option('--detach', 'print the run id and return; the run goes on in `daqflow up`')
    .option('--json', 'print JSON');

/** Adds `daqflow grab params|events|get|cancel`. */
export const registerGrabCommands = (program: Command): void => {
  const grab = program
    .command('grab')
    .description('grab a time window of data-logger data into HDF5, with per-parameter statistics')
    .addHelpText(
      'after',
      `
A grab run reads each parameter chunk by chunk (6 hours by default) from the data logger
(DAQFLOW_ARCHIVER_URL, an EPICS Archiver Appliance; without it, a built-in simulator), writes
MLParamData_<created>_<start>_to_<stop>.h5 in the draft folder, and moves it to the out folder
only when complete. Each finished chunk is an event: a run interrupted at any point resumes at
the first unfinished chunk. Source errors are retried with backoff (5 attempts by default).

Examples (the nightly grabs of GMPS-AI's scripts):
  npx daqflow grab params --param-file ParamList.txt --days 1 --outdir tape
  npx daqflow grab params SIM:SINE SIM:RAMP --hours 2 --stopat "2026-11-21 12:00:00"
  npx daqflow grab events --max-evt 0xFF --days 1 --outdir tape
  npx daqflow grab get <id>
  npx daqflow grab cancel <id>`,
    );

  withGlobalOptions(
    windowOptions(
      grab
        .command('params')
        .description("grab parameters' time series (as ParamDataGrabber.py)")
        .argument('[parameters...]', 'parameter names (PV names for the Archiver Appliance)')
        .option('-f, --param-file <file>', 'file with one parameter name a line; # starts a comment'),
    ),
  ).action((names: string[], _, command: Command) => runParams(names, command.optsWithGlobals()));

  withGlobalOptions(
    windowOptions(
      grab
        .command('events')
        .description("grab the times timing events fired (as EventDataGrabber.py)")
        .option('--max-evt, --maxEvt <code>', 'highest event code to look at, decimal or hex (default 0xFF)', eventCode)
        .option('--event-channel <pattern>', 'channel name of an event code; {hex} is its two-digit hex code (default EVENT:{hex})')
        .option('-o, --first-only', 'stop after the first event code that fired in the window'),
    ),
  ).action((_, command: Command) => runEvents(command.optsWithGlobals()));

  withGlobalOptions(
    grab
      .command('get')
      .description("print a grab run's state, progress, file and statistics")
      .argument('<id>', 'grab run id')
      .option('--follow', 'draw its progress until it ends')
      .option('--json', 'print JSON'),
  ).action((id: string, _, command: Command) => runGet(id, command.optsWithGlobals()));

  withGlobalOptions(
    grab
      .command('cancel')
      .description('cancel a grab run; its draft is removed and no file appears in the out folder')
      .argument('<id>', 'grab run id')
      .option('--reason <text>', 'recorded with the cancellation'),
  ).action((id: string, _, command: Command) => runCancel(id, command.optsWithGlobals()));
};
