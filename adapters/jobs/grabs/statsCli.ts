import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type { Kysely } from 'kysely';
import { DaqflowError, ValidationError } from '../../../events/errors.js';
import type { Database } from '../../../projections/database.js';
import { exportParameterStatistics, MAX_STATISTICS_LIMIT, queryStatistics } from '../../../projections/grabStatistics.queries.js';
import { createDb } from '../../postgres/createDb.js';
import { cliContext, toolServers, withGlobalOptions, type GlobalOptions } from '../../cli/context.js';
import { parseTime, table } from '../../cli/format.js';

interface TimeRangeOptions extends GlobalOptions {
  readonly from?: string;
  readonly to?: string;
}

export interface StatsListOptions extends TimeRangeOptions {
  readonly parameter?: string;
  /** Always set: the flag has a default. */
  readonly limit: string;
  readonly json?: boolean;
}

export interface StatsExportOptions extends TimeRangeOptions {
  readonly parameter: string;
  readonly out?: string;
}

const timeHelp = 'ISO 8601 (2026-11-22T10:00:00Z), or relative: -30m, -2h, -7d';

const timeRange = (options: TimeRangeOptions): { from?: Date; to?: Date } => {
  const parse = (flag: string, text: string | undefined): Date | undefined => {
    if (text === undefined) return undefined;
    const time = parseTime(text);
    if (time === undefined) throw new ValidationError(`--${flag} ${text}: not a time (${timeHelp})`);
    return time;
  };
  const from = parse('from', options.from);
  const to = parse('to', options.to);
  if (from && to && from.getTime() >= to.getTime()) {
    throw new ValidationError(`--to ${options.to} is not after --from ${options.from}`);
  }
  return { ...(from ? { from } : {}), ...(to ? { to } : {}) };
};

/** Runs `read` on the projection database of the configured (or borrowed, or embedded) servers. */
const withStatisticsDb = async <T>(options: GlobalOptions, read: (db: Kysely<Database>) => Promise<T>): Promise<T> => {
  const context = cliContext(options, { logLevel: 'warn' });
  const servers = await toolServers(context);
  const db = createDb(servers.databaseUrl, { max: 2 });
  try {
    // A read-only tool: it does not migrate a database a running daqflow of another version uses.
    return await read(db).catch((e: unknown) => {
      if ((e as { code?: string }).code === '42P01') {
        throw new DaqflowError(
          'WRONG_STATE',
          'this database has no grab_statistics table yet: run `daqflow migrate` or start `daqflow up`',
        );
      }
      throw e;
    });
  } finally {
    await db.destroy();
    await servers.stop();
  }
};

/** A statistic for the table: 6 significant digits, `-` when undefined. */
const num = (value: number | null): string => {
  if (value === null) return '-';
  const rounded = Number(value.toPrecision(6));
  return Math.abs(rounded) >= 1e7 ? rounded.toExponential(5) : String(rounded);
};
const isoSeconds = (value: Date | string): string => new Date(value).toISOString().replace(/\.000Z$/, 'Z');

/** `daqflow stats list`: grab statistics rows, by window start. */
export const runStatsList = async (options: StatsListOptions): Promise<void> => {
  const range = timeRange(options);
  const rows = await withStatisticsDb(options, (db) =>
    queryStatistics(db, {
      ...range,
      ...(options.parameter === undefined ? {} : { parameter: options.parameter }),
      limit: Number(options.limit),
    }),
  );
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ rows }, null, 2)}\n`);
    return;
  }
  if (rows.length === 0) {
    process.stdout.write('no grab statistics match (they appear when a grab run has written its file)\n');
    return;
  }
  process.stdout.write(
    `${table(
      ['WINDOW START', 'WINDOW STOP', 'PARAMETER', 'UNITS', 'COUNT', 'NAN', 'MIN', 'MAX', 'MEAN', 'STD', 'MODE', 'DT MEAN', 'RUN'],
      rows.map((r) => [
        isoSeconds(r.window_start),
        isoSeconds(r.window_stop),
        r.parameter,
        r.units ?? '-',
        String(r.count),
        String(r.nan_count),
        num(r.min),
        num(r.max),
        num(r.mean),
        num(r.std),
        num(r.mode),
        num(r.interval_mean),
        r.run_id,
      ]),
    )}\n`,
  );
  if (rows.length === Number(options.limit)) {
    process.stderr.write(`(first ${rows.length} rows; --limit shows more, --from/--to narrow the range)\n`);
  }
};

/** `daqflow stats export`: one parameter's statistics over time, as JSON for plotting. */
export const runStatsExport = async (options: StatsExportOptions): Promise<void> => {
  const range = timeRange(options);
  const document = await withStatisticsDb(options, (db) => exportParameterStatistics(db, options.parameter, range));
  const text = `${JSON.stringify(document, null, 2)}\n`;
  if (options.out === undefined) {
    process.stdout.write(text);
  } else {
    // Written beside and renamed, so a reader never sees half a file.
    const target = path.resolve(options.out);
    const partial = `${target}.${process.pid}.partial`;
    await writeFile(partial, text);
    await rename(partial, target);
    process.stderr.write(`wrote ${document.series.length} runs of ${options.parameter} to ${target}\n`);
  }
  if (document.series.length === 0) {
    process.stderr.write(`no grab statistics for parameter ${options.parameter} in that range\n`);
  }
};

const positiveLimit = (value: string): string => {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_STATISTICS_LIMIT) {
    throw new InvalidArgumentError(`a whole number from 1 to ${MAX_STATISTICS_LIMIT}`);
  }
  return value;
};

/** Adds `daqflow stats list` and `daqflow stats export` to the program. */
export const registerStatsCommands = (program: Command): void => {
  const stats = program
    .command('stats')
    .description('grab statistics: one row per grab run and parameter, from the statistics projection')
    .addHelpText(
      'after',
      `
Examples:
  npx daqflow stats list --parameter SARFE10-PBPG050:PHOTON-ENERGY --from -7d
  npx daqflow stats export --parameter SARFE10-PBPG050:PHOTON-ENERGY --out energy.json`,
    );

  withGlobalOptions(
    stats
      .command('list')
      .description('list grab statistics rows whose run window overlaps [--from, --to), by window start')
      .option('--parameter <name>', 'only this parameter (exact name)')
      .option('--from <time>', `only runs whose window ends after this time; ${timeHelp}`)
      .option('--to <time>', `only runs whose window starts before this time; ${timeHelp}`)
      .option('--limit <n>', `at most this many rows (max ${MAX_STATISTICS_LIMIT})`, positiveLimit, '100')
      .option('--json', 'print {"rows": [...]} as JSON instead of a table (the rows of daqflow.query.stats)')
      .addHelpText(
        'after',
        `
The table shows count, NaN count, min, max, mean, std and mode of each run's samples, and the
mean sample-to-sample interval (DT MEAN, seconds); --json has every column, the interval's
statistics and the first and last sample time (UTC seconds) included.

Examples:
  npx daqflow stats list
  npx daqflow stats list --parameter SARFE10-PBPG050:PHOTON-ENERGY --from -7d
  npx daqflow stats list --from 2026-11-01T00:00:00Z --to 2026-11-02T00:00:00Z --json`,
      ),
  ).action((_, command: Command) => runStatsList(command.optsWithGlobals()));

  withGlobalOptions(
    stats
      .command('export')
      .description("write one parameter's statistics over time as a JSON document for plotting")
      .requiredOption('--parameter <name>', 'the parameter (exact name)')
      .option('--from <time>', `only runs whose window ends after this time; ${timeHelp}`)
      .option('--to <time>', `only runs whose window starts before this time; ${timeHelp}`)
      .option('--out <file>', 'write the JSON to this file instead of stdout')
      .addHelpText(
        'after',
        `
The document (see docs/api.md, "Statistics export"):
  {"parameter", "units", "generatedFrom": "daqflow grab statistics", "from", "to",
   "series": [{"runId", "windowStart", "windowStop", "units", "outputFile", "count", "nanCount",
               "min", "max", "mean", "std", "mode", "firstTime", "lastTime",
               "interval": {"count", "nanCount", "min", "max", "mean", "std", "mode"}}]}
one series point per grab run, by window start. Notes go to stderr, so stdout is pure JSON.

Examples:
  npx daqflow stats export --parameter SARFE10-PBPG050:PHOTON-ENERGY > energy.json
  npx daqflow stats export --parameter SARFE10-PBPG050:PHOTON-ENERGY --from -30d --out energy.json`,
      ),
  ).action((_, command: Command) => runStatsExport(command.optsWithGlobals()));
};
