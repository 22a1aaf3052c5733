import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { InvalidArgumentError, type Command } from 'commander';
import { parseReportConfig, reportConfigError } from '../../../actors/reports/reportConfig.js';
import { ValidationError } from '../../../events/errors.js';
import { cliContext, withGlobalOptions, withToolNats, type GlobalOptions } from '../../cli/context.js';
import { table } from '../../cli/format.js';
import { withDaqflow } from '../../cli/withDaqflow.js';
import { readJsonPatiently, requestJson } from '../../cli/natsRequest.js';
import { choice, commaList } from '../../cli/parsers.js';

/** What `reports.get` answers: the report job's summary and details. */
export interface ReportView {
  id: string;
  state: string;
  final: boolean;
  mode?: string;
  runner?: string;
  title?: string;
  jobs?: Array<{ key: string; state: string; runnerJobId: string | null; exitCode: number | null; reason?: string; artifacts: number }>;
  progress?: { jobs: number; finished: number; completed: number; failed: number; timedOut: number; cancelled: number };
  report?: { dir: string; index: string } | null;
  published?: { dir: string; commit: string | null } | null;
  artifacts?: Array<{ path: string; bytes: number }>;
  error?: string;
}

interface ReportOptions extends GlobalOptions {
  readonly mode: 'sim' | 'local' | 'prod';
  readonly runner?: 'local' | 'slurm';
  readonly instrument?: string[];
  readonly override?: Record<string, unknown>;
  readonly requestId?: string;
  readonly detach?: boolean;
  readonly json?: boolean;
}

const jsonObject = (value: string): Record<string, unknown> => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (e) {
    throw new InvalidArgumentError(`not JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new InvalidArgumentError('a JSON object');
  return parsed as Record<string, unknown>;
};

const jobsTable = (view: ReportView): string =>
  table(
    ['JOB', 'STATE', 'RUNNER ID', 'EXIT', 'FILES', 'REASON'],
    (view.jobs ?? []).map((j) => [j.key, j.state, j.runnerJobId ?? '-', j.exitCode === null ? '-' : String(j.exitCode), String(j.artifacts), j.reason ?? '']),
  );

const describe = (view: ReportView): string =>
  [
    `report ${view.id}: ${view.state} (${view.mode ?? '?'} mode, ${view.runner ?? '?'} runner)`,
    jobsTable(view),
    ...(view.report ? [`report: ${view.report.index}`] : []),
    ...(view.published ? [`published: ${view.published.dir}${view.published.commit ? ` (commit ${view.published.commit})` : ''}`] : []),
    ...(view.error ? [`error: ${view.error}`] : []),
  ].join('\n');

/** Follows a report until it ends: a line on stderr whenever a job's state changes. */
export const followReport = async (nc: NatsConnection, prefix: string, id: string, pollMs = 1_000): Promise<ReportView> => {
  let view = await readJsonPatiently<ReportView>(nc, `${prefix}.reports.get`, { id });
  let last = '';
  for (;;) {
    const line = `report ${id} ${view.state}: ${(view.jobs ?? []).map((j) => `${j.key} ${j.state}`).join(', ')}`;
    if (line !== last) process.stderr.write(`${line}\n`);
    last = line;
    if (view.final) return view;
    await new Promise((r) => setTimeout(r, pollMs));
    view = await readJsonPatiently<ReportView>(nc, `${prefix}.reports.get`, { id });
  }
};

const runStart = async (configFile: string | undefined, options: ReportOptions): Promise<void> => {
  const context = cliContext(options, { logLevel: 'warn' });
  const prefix = context.config.subjectPrefix;
  const body = {
    requestId: options.requestId ?? `cli-${randomUUID()}`,
    mode: options.mode,
    ...(configFile ? { configPath: resolve(configFile) } : {}),
    ...(options.runner ? { runner: options.runner } : {}),
    ...(options.instrument?.length ? { instruments: options.instrument } : {}),
    ...(options.override ? { override: options.override } : {}),
  };
  await withDaqflow(context, `${prefix}.reports.get`, async (nc, inProcess) => {
    const started = await requestJson<ReportView>(nc, `${prefix}.reports.start`, body, 30_000);
    process.stderr.write(`report ${started.id}: ${started.state}, ${started.jobs?.length ?? 0} jobs on the ${started.runner} runner\n`);
    if (options.detach) {
      if (inProcess) process.stderr.write('note: --detach with no daqflow running: the report resumes when `npx daqflow up` starts\n');
      process.stdout.write(options.json ? `${JSON.stringify(started)}\n` : `${started.id}\n`);
      return;
    }
    const view = await followReport(nc, prefix, started.id);
    process.stdout.write(options.json ? `${JSON.stringify(view, null, 2)}\n` : `${describe(view)}\n`);
    if (view.state !== 'completed') process.exitCode = 1;
  });
};

const runOne = async (verb: 'get' | 'cancel', id: string, options: GlobalOptions & { json?: boolean; follow?: boolean; reason?: string }): Promise<void> => {
  const context = cliContext(options, { logLevel: 'warn' });
  const prefix = context.config.subjectPrefix;
  await withToolNats(context, async (nc) => {
    let view = await requestJson<ReportView>(nc, `${prefix}.reports.${verb}`, verb === 'cancel' ? { id, reason: options.reason ?? 'cancelled from the command line' } : { id });
    if (options.follow && !view.final) view = await followReport(nc, prefix, id);
    process.stdout.write(options.json ? `${JSON.stringify(view, null, 2)}\n` : `${describe(view)}\n`);
  });
};

/** `report schedule`: a schedule firing `reports.start` on the configuration's `global.schedule`. */
const runSchedule = async (configFile: string, options: ReportOptions & { name?: string }): Promise<void> => {
  const path = resolve(configFile);
  const parsed = parseReportConfig(await readFile(path, 'utf8').catch((e: unknown) => Promise.reject(new ValidationError(`cannot read ${path}: ${(e as Error).message}`))));
  if (!parsed.ok) throw reportConfigError(parsed.issues, `report configuration ${path}`);
  const cron = parsed.config.global.schedule;
  if (!cron) throw new ValidationError(`${path} has no global.schedule (a cron expression, e.g. "0 2 * * 1")`);
  const context = cliContext(options, { logLevel: 'warn' });
  const prefix = context.config.subjectPrefix;
  await withDaqflow(context, `${prefix}.schedules.get`, async (nc) => {
    const created = await requestJson<{ id: string; nextFireAt?: string }>(nc, `${prefix}.schedules.create`, {
      name: options.name ?? `report ${parsed.config.global.title}`,
      cron,
      ...(parsed.config.global.timeZone ? { timeZone: parsed.config.global.timeZone } : {}),
      target: {
        kind: 'report',
        command: 'start',
        payload: { configPath: path, mode: options.mode, ...(options.runner ? { runner: options.runner } : {}), ...(options.instrument?.length ? { instruments: options.instrument } : {}) },
      },
    });
    process.stdout.write(`schedule ${created.id}: ${cron}, next at ${created.nextFireAt ?? '?'} (see \`daqflow schedule list\`)\n`);
  });
};

const startOptions = (command: Command): Command =>
  command
    .option('--mode <mode>', 'sim: keep everything in the work folder; local: write the out folder; prod: also commit and push to git', choice(['sim', 'local', 'prod'] as const), 'local')
    .option('--runner <runner>', 'local or slurm (default: global.runner of the configuration)', choice(['local', 'slurm'] as const))
    .option('--instrument <name>', 'only this instrument, or instrument.detector (repeatable, comma-separated)', commaList);

/** Adds `daqflow report start|get|cancel|schedule|render-job`. */
export const registerReportCommands = (program: Command): void => {
  const report = program
    .command('report')
    .description('plots of the statistics database over time and an HTML report, run on a local runner or Slurm')
    .addHelpText(
      'after',
      `
A report configuration (YAML, see docs/reports.md) lists per instrument its detectors or
parameter groups, which statistics to plot over which dates. A report job runs one job per
detector on the runner (child processes, or sbatch on Slurm), polls them at
global.jobUpdateIntervalSeconds, cancels those that outlive global.jobTimeoutSeconds, then
builds index.html with a page per instrument and publishes it.

Examples:
  npx daqflow report start examples/reports.yaml --mode sim         # try it: nothing published
  npx daqflow report start reports.yaml --mode local --instrument SPB
  npx daqflow report start reports.yaml --mode prod --runner slurm --detach
  npx daqflow report start reports.yaml --override '{"global":{"range":{"last":"7d"}}}'
  npx daqflow report get <id>
  npx daqflow report cancel <id>
  npx daqflow report schedule reports.yaml --mode prod               # on its global.schedule`,
    );

  withGlobalOptions(
    startOptions(
      report
        .command('start')
        .description('run a report and follow its jobs until it ends')
        .argument('[config]', 'report configuration (YAML); default DAQFLOW_REPORT_CONFIG')
        .option('--override <json>', 'laid over the configuration for this run only (null removes a key)', jsonObject)
        .option('--request-id <id>', 'idempotency key: the same start again returns the first report')
        .option('--detach', 'print the id and return; the report goes on in `daqflow up`')
        .option('--json', 'print JSON'),
    ),
  ).action((config: string | undefined, _, command: Command) => runStart(config, command.optsWithGlobals()));

  withGlobalOptions(
    report
      .command('get')
      .description("print a report's state, its jobs, and where the report is")
      .argument('<id>', 'report id')
      .option('--follow', 'follow it until it ends')
      .option('--json', 'print JSON'),
  ).action((id: string, _, command: Command) => runOne('get', id, command.optsWithGlobals()));

  withGlobalOptions(
    report
      .command('cancel')
      .description('cancel a report: its running jobs are cancelled (scancel, or the child killed)')
      .argument('<id>', 'report id')
      .option('--reason <text>', 'recorded with the cancellation')
      .option('--json', 'print JSON'),
  ).action((id: string, _, command: Command) => runOne('cancel', id, command.optsWithGlobals()));

  withGlobalOptions(
    startOptions(
      report
        .command('schedule')
        .description("run a report on its configuration's global.schedule (a schedule actor; see daqflow schedule list)")
        .argument('<config>', 'report configuration (YAML) with global.schedule')
        .option('--name <name>', 'schedule name (default: "report <title>")'),
    ),
  ).action((config: string, _, command: Command) => runSchedule(config, command.optsWithGlobals()));

  report
    .command('render-job')
    .description("what a report job runs on its runner: one detector's trend plots from its input file")
    .argument('<job.json>', "the job's input, written by daqflow when it submitted the job")
    .option('--out <dir>', 'where the plots go (default: out/ beside the input)')
    .action(async (input: string, o: { out?: string }) => {
      const { renderJob } = await import('./renderJob.js');
      const files = await renderJob(resolve(input), o.out ?? process.env['DAQFLOW_REPORT_OUT']);
      process.stdout.write(`${files.length} files written\n${files.join('\n')}\n`);
    });
};
