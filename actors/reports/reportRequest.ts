/**
 * From a `daqflow.reports.start` body and a configuration to the self-contained `requested`
 * event: override merged, instruments selected, dates made instants, folders made absolute.
 *
 * Pure: the clock ("now" for `last: 30d`), the zone, the data root and the work folder are
 * arguments, and the configuration comes parsed. The adapters read a `configPath`, pass the
 * reference time (a schedule passes its fire time), check that the parameters exist in the
 * statistics database, and check the folders again with symlinks followed before anything is
 * written.
 */
import { TZDate } from '@date-fns/tz';
import { z } from 'zod';
import { isDaqflowError } from '../../events/errors.js';
import { parseFacilityTime } from '../grabs/grabWindow.js';
import { timeZoneProblem } from '../schedules/nextFireTime.js';
import { isInsidePosix, normalizePosix } from '../text/posixPaths.js';
import {
  durationParts,
  MAX_REPORT_JOBS,
  mergeOverride,
  plotOptionsOf,
  reportRunners,
  resolveOutFolder,
  selectInstruments,
  type DateRange,
  type ReportConfig,
  type ReportConfigIssue,
  type ReportRunner,
} from './reportConfig.js';
import { reportModes, type ReportJobSpec, type ReportMode, type ReportRequested } from './reportJob.events.js';

/** The body of `daqflow.reports.start` (docs/api.md), `requestId` aside. */
export const reportStartRequestSchema = z
  .strictObject({
    /** A whole configuration instead of the configured file (the report service's --overwrite-conf). */
    config: z.record(z.string(), z.unknown()).optional(),
    /** A configuration file on the daqflow host instead of the configured one. */
    configPath: z.string().trim().min(1).max(4_096).optional(),
    /** Laid over the configuration for this run only (`null` removes a key). */
    override: z.record(z.string(), z.unknown()).optional(),
    /** `SPB`, `SPB.AGIPD` or `all` (the default). */
    instruments: z.array(z.string().trim().min(1).max(130)).max(MAX_REPORT_JOBS).optional(),
    mode: z.enum(reportModes),
    /** Overrides the configuration's `global.runner`. */
    runner: z.enum(reportRunners).optional(),
  })
  .refine((b) => b.config === undefined || b.configPath === undefined, {
    message: 'give config or configPath, not both',
    path: ['configPath'],
  });
export type ReportStartRequest = z.infer<typeof reportStartRequestSchema>;

export interface ResolveReportRequestOptions {
  /** The configuration, validated (`parseReportConfig`). */
  readonly config: ReportConfig;
  readonly override?: unknown;
  readonly mode: ReportMode;
  readonly runner?: ReportRunner | undefined;
  readonly instruments?: readonly string[] | undefined;
  /** "Now": the end of `last` ranges and of `to: now`. */
  readonly reference: Date;
  /** DAQFLOW_TIMEZONE; the configuration's `global.timeZone` wins. */
  readonly timeZone: string;
  /** DAQFLOW_DATA_ROOT, absolute. */
  readonly dataRoot: string;
  /** Absolute folder (inside the data root) of the jobs' and the draft report's work folders. */
  readonly workDir: string;
  readonly configPath?: string | null;
  readonly scheduleId?: string | null;
}

export type ResolveReportResult =
  | { readonly ok: true; readonly requested: ReportRequested }
  | { readonly ok: false; readonly issues: readonly ReportConfigIssue[] };

/** A range's two instants. Days and weeks are calendar days in the zone, as a grab's window is. */
export const resolveDateRange = (
  range: DateRange,
  options: { readonly reference: Date; readonly timeZone: string },
): { readonly ok: true; readonly from: Date; readonly to: Date } | { readonly ok: false; readonly field: string; readonly message: string } => {
  let field = 'to';
  try {
    const to = range.to === undefined || range.to === 'now' ? new Date(options.reference.getTime()) : parseFacilityTime(range.to, options.timeZone, 'to');
    let from: Date;
    if (range.last !== undefined) {
      field = 'last';
      let days = 0;
      let seconds = 0;
      for (const [n, unit] of durationParts(range.last)) {
        if (unit === 'w') days += 7 * n;
        else if (unit === 'd') days += n;
        else seconds += n * (unit === 'h' ? 3_600 : unit === 'm' ? 60 : 1);
      }
      const local = new TZDate(to.getTime(), options.timeZone);
      local.setDate(local.getDate() - days);
      from = new Date(local.getTime() - seconds * 1_000);
    } else {
      field = 'from';
      from = parseFacilityTime(range.from ?? '', options.timeZone, 'from');
    }
    if (from.getTime() >= to.getTime()) {
      return { ok: false, field, message: `the range is empty or inverted: from ${from.toISOString()} to ${to.toISOString()}` };
    }
    if (from.getUTCFullYear() < 1970 || to.getUTCFullYear() > 9999) return { ok: false, field, message: 'the range must lie between 1970 and 9999' };
    return { ok: true, from, to };
  } catch (e) {
    if (!isDaqflowError(e)) throw e;
    // parseFacilityTime's message starts with the field it was given.
    return { ok: false, field, message: e.message.replace(/^(from|to): /, '') };
  }
};

/**
 * The `requested` event's data for a report, or the issues that refuse it (a 400 with
 * `reportConfigError`). Every job of the selection is planned; an issue names its path in the
 * configuration (`instruments.SPB.detectors.AGIPD.range.from`) or in the request (`mode`,
 * `instruments.0`).
 */
export const resolveReportRequest = (options: ResolveReportRequestOptions): ResolveReportResult => {
  const merged = mergeOverride(options.config, options.override, { dataRoot: options.dataRoot });
  if (!merged.ok) return merged;
  const config = merged.config;
  const selected = selectInstruments(config, options.instruments);
  if (!selected.ok) return selected;
  const { selection } = selected;
  const issues: ReportConfigIssue[] = [];

  const timeZone = config.global.timeZone ?? options.timeZone;
  const zoneProblem = timeZoneProblem(timeZone);
  if (zoneProblem) return { ok: false, issues: [{ path: ['global', 'timeZone'], message: zoneProblem }] };

  let outDir: string | null = null;
  if (options.mode !== 'sim') {
    const out = resolveOutFolder(config.global.outFolder, options.dataRoot);
    if (out.ok) outDir = out.path;
    else issues.push({ path: ['global', 'outFolder'], message: out.message });
  }
  const workDir = normalizePosix(options.workDir);
  if (!options.workDir.startsWith('/') || !options.dataRoot.startsWith('/') || !isInsidePosix(normalizePosix(options.dataRoot), workDir)) {
    issues.push({ path: ['workDir'], message: `${JSON.stringify(options.workDir)} is not an absolute folder inside the data root ${options.dataRoot}` });
  }
  if (options.mode === 'prod' && config.global.publish === undefined) {
    issues.push({ path: ['global', 'publish'], message: 'prod mode publishes to git: give global.publish {gitUrl, branch, subFolder}' });
  }

  const jobs: ReportJobSpec[] = [];
  for (const [instrument, entry] of Object.entries(selection.config.instruments)) {
    for (const [detector, spec] of Object.entries(entry.detectors)) {
      const range = spec.range ?? config.global.range;
      const rangePath = spec.range ? ['instruments', instrument, 'detectors', detector, 'range'] : ['global', 'range'];
      const dates = resolveDateRange(range, { reference: options.reference, timeZone });
      if (!dates.ok) {
        issues.push({ path: [...rangePath, dates.field], message: dates.message });
        continue;
      }
      jobs.push({
        key: `${instrument}.${detector}`,
        instrument,
        detector,
        title: spec.title ?? `${entry.title ?? instrument} ${detector}`,
        parameters: spec.parameters,
        from: dates.from.toISOString(),
        to: dates.to.toISOString(),
        plot: plotOptionsOf(config, spec),
        ...(spec.command ? { command: [...spec.command] } : {}),
      });
    }
  }
  if (issues.length > 0) return { ok: false, issues };

  const runner = options.runner ?? config.global.runner;
  return {
    ok: true,
    requested: {
      mode: options.mode,
      runner,
      instruments: [...selection.instruments],
      title: config.global.title,
      jobs,
      workDir,
      outDir,
      publish: options.mode === 'prod' && config.global.publish ? { ...config.global.publish } : null,
      jobUpdateIntervalSeconds: config.global.jobUpdateIntervalSeconds,
      jobTimeoutSeconds: config.global.jobTimeoutSeconds,
      slurm: runner === 'slurm' ? { ...config.global.slurm } : null,
      timeZone,
      config: selection.config as unknown as Record<string, unknown>,
      configPath: options.configPath ?? null,
      scheduleId: options.scheduleId ?? null,
    },
  };
};
