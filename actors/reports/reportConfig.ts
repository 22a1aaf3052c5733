/**
 * The report configuration: a YAML file modelled on European XFEL's report service's `report_conf.yaml`
 * (a `global` section, then per instrument and detector what to plot over which dates), in
 * daqflow's camelCase. Every object is strict: a typo'd key is refused with its path, its line in
 * the YAML and the key it probably meant, because a silently ignored key is a report that quietly
 * plots the wrong thing for months.
 *
 * Pure: no file system. A `configPath` is read by the adapters, which pass the text here; the
 * data root is an argument.
 */
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { ValidationError } from '../../events/errors.js';
import { cronSchema, timeZoneSchema } from '../schedules/schedule.actor.js';
import { didYouMean } from '../text/didYouMean.js';
import { isInsidePosix, normalizePosix, resolvePosix } from '../text/posixPaths.js';
import { yamlPositionOf } from '../text/yamlPosition.js';

export const reportRunners = ['local', 'slurm'] as const;
export type ReportRunner = (typeof reportRunners)[number];

/** Statistics columns a trend plot can draw (`std` as a band around the mean). */
export const plotStatistics = ['min', 'max', 'mean', 'std', 'mode', 'count', 'nanCount'] as const;
export const plotFormats = ['png', 'svg'] as const;

/** Most jobs one report may fan out to: each is a runner job, polled at every interval. */
export const MAX_REPORT_JOBS = 500;

// Names end up in runner job names, folder names and job keys (`<instrument>.<detector>`), so
// they keep to characters that are safe in all three, and never contain the key's dot.
const namePattern = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const nameMessage = 'a name is 1-64 of A-Z a-z 0-9 _ -, starting with a letter or a digit';

const durationPattern = /^(?:\d+[smhdw])+$/;
const localTimePattern = /^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?)?$/;
const offsetTimePattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$/i;
// Git's own rules are longer; this refuses what would be a mistake in a YAML file (spaces, ..).
const branchPattern = /^(?!.*\.\.)(?!\/)(?!.*\/$)[A-Za-z0-9._/-]{1,200}$/;
// sbatch --time: minutes, minutes:seconds, hours:minutes:seconds, days-hours[:minutes[:seconds]].
const slurmTimePattern = /^(?:\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d{1,2}(?::\d{1,2}(?::\d{1,2})?)?|UNLIMITED|INFINITE)$/;
const slurmMemPattern = /^\d+[KMGT]?$/;
const slurmNamePattern = /^[A-Za-z0-9_.,-]{1,128}$/;

const unique = <T>(items: readonly T[]): boolean => new Set(items).size === items.length;

const name = z.string().regex(namePattern, nameMessage);
const title = z.string().trim().min(1).max(200);

/** `30d`, `12h`, `2w`, `1d12h`: s, m (minutes), h, d and w; days and weeks are calendar days. */
const duration = z
  .string()
  .trim()
  .regex(durationPattern, 'a duration such as 30d, 12h, 2w or 1d12h (units s, m, h, d, w)')
  .refine((text) => durationParts(text).some(([n]) => n > 0), 'a duration must not be zero');

const isTime = (text: string): boolean => localTimePattern.test(text) || offsetTimePattern.test(text);
const timeHelp = 'YYYY-MM-DD, YYYY-MM-DD hh:mm[:ss] (in the report time zone) or ISO 8601 with an offset';
const time = z.string().trim().refine(isTime, `a time: ${timeHelp}`);

/**
 * Which dates a detector's plots cover: the `last` stretch of time before `to` (default: when the
 * report runs), or `from` to `to`.
 */
export const dateRangeSchema = z
  .strictObject({
    last: duration.optional(),
    from: time.optional(),
    to: z.string().trim().refine((t) => t === 'now' || isTime(t), `now, or a time: ${timeHelp}`).optional(),
  })
  .superRefine((range, ctx) => {
    if ((range.last === undefined) === (range.from === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give either last (e.g. 30d) or from (with an optional to), not both and not neither' });
    }
  });
export type DateRange = z.infer<typeof dateRangeSchema>;

const plotFields = {
  formats: z.array(z.enum(plotFormats)).min(1).refine(unique, 'formats are listed twice'),
  statistics: z.array(z.enum(plotStatistics)).min(1).refine(unique, 'statistics are listed twice'),
  /** Also plot the statistics of the sample-to-sample interval (gaps in the data logger). */
  interval: z.boolean(),
  width: z.number().int().min(100).max(8_000),
  height: z.number().int().min(100).max(8_000),
  logScale: z.boolean(),
};

/** Plot options every detector starts from (`global.plot`). */
export const plotDefaultsSchema = z.strictObject({
  formats: plotFields.formats.default(['png', 'svg']),
  statistics: plotFields.statistics.default(['max', 'mean', 'std', 'min']),
  interval: plotFields.interval.default(false),
  width: plotFields.width.default(900),
  height: plotFields.height.default(300),
  logScale: plotFields.logScale.default(false),
});
export type PlotOptions = z.infer<typeof plotDefaultsSchema>;

// No defaults here: a detector's plot options override only what they name.
const plotOverrideSchema = z.strictObject({
  formats: plotFields.formats.optional(),
  statistics: plotFields.statistics.optional(),
  interval: plotFields.interval.optional(),
  width: plotFields.width.optional(),
  height: plotFields.height.optional(),
  logScale: plotFields.logScale.optional(),
});

/** Where `prod` mode commits the report: a git repository (a URL, or a path for a bare repository). */
export const publishTargetSchema = z.strictObject({
  gitUrl: z.string().trim().min(1).max(2_048),
  branch: z.string().regex(branchPattern, 'a branch name such as main or reports/dc').default('main'),
  /** Folder inside the repository; `.` is its top. */
  subFolder: z
    .string()
    .trim()
    .min(1)
    .max(1_024)
    .refine((p) => !p.startsWith('/') && !normalizePosix(p).startsWith('..'), 'a folder inside the repository (relative, no ..)')
    .default('.'),
});
export type PublishTarget = z.infer<typeof publishTargetSchema>;

export const slurmOptionsSchema = z.strictObject({
  partition: z.string().regex(slurmNamePattern, 'a partition name').optional(),
  account: z.string().regex(slurmNamePattern, 'an account name').optional(),
  /** sbatch --time: `60`, `1:00:00`, `1-12`, `2-00:00:00`. */
  time: z.string().regex(slurmTimePattern, 'a Slurm time limit such as 60, 1:00:00 or 1-12:00:00').optional(),
  /** sbatch --mem: `4096`, `4G`. */
  mem: z.string().regex(slurmMemPattern, 'a Slurm memory size such as 4096 or 4G').optional(),
});
export type SlurmOptions = z.infer<typeof slurmOptionsSchema>;

export const globalSchema = z.strictObject({
  title: title.default('Report'),
  /** Where `local` and `prod` write the report: relative to DAQFLOW_DATA_ROOT, or absolute inside it. */
  outFolder: z.string().trim().min(1).max(4_096).default('reports'),
  publish: publishTargetSchema.optional(),
  jobUpdateIntervalSeconds: z.number().int().min(1).max(3_600).default(10),
  /** Wall-clock limit of each job from its submission; daqflow cancels it after that. */
  jobTimeoutSeconds: z.number().int().min(1).max(7 * 86_400).default(3_600),
  /** Cron expression of the automatic runs (five fields, or six with seconds first). */
  // The schedule actor's own schemas: what `report schedule` hands it must pass its check too.
  schedule: cronSchema.optional(),
  /** Zone of the schedule and of dates without an offset (default: DAQFLOW_TIMEZONE). */
  timeZone: timeZoneSchema.optional(),
  runner: z.enum(reportRunners).default('local'),
  slurm: slurmOptionsSchema.optional(),
  /** Dates of every detector that has no range of its own. */
  range: dateRangeSchema.default({ last: '30d' }),
  plot: plotDefaultsSchema.prefault({}),
});
export type ReportGlobal = z.infer<typeof globalSchema>;

/** One detector, or any named group of parameters: one job, one set of plots. */
export const detectorSchema = z.strictObject({
  title: title.optional(),
  /** Parameter names as the statistics database has them. */
  parameters: z
    .array(z.string().trim().min(1).max(256))
    .min(1, 'list at least one parameter')
    .max(1_000)
    .refine(unique, 'a parameter is listed twice'),
  range: dateRangeSchema.optional(),
  plot: plotOverrideSchema.optional(),
  /**
   * The job's own program and arguments instead of daqflow's trend plots (as the report service runs a
   * notebook per detector). It runs in the job's folder with DAQFLOW_REPORT_JOB (its input, with
   * the statistics) and DAQFLOW_REPORT_OUT (where its files go) set.
   */
  command: z.array(z.string().min(1).max(4_096)).min(1).max(256).optional(),
});
export type DetectorConfig = z.infer<typeof detectorSchema>;

export const instrumentSchema = z.strictObject({
  title: title.optional(),
  detectors: z.record(name, detectorSchema).refine((d) => Object.keys(d).length > 0, 'an instrument needs at least one detector'),
});
export type InstrumentConfig = z.infer<typeof instrumentSchema>;

export const reportConfigSchema = z
  .strictObject({
    global: globalSchema.prefault({}),
    instruments: z
      .record(name, instrumentSchema)
      .refine((i) => Object.keys(i).length > 0, 'the configuration needs at least one instrument'),
  })
  .superRefine((config, ctx) => {
    const jobs = Object.values(config.instruments).reduce((n, i) => n + Object.keys(i.detectors).length, 0);
    if (jobs > MAX_REPORT_JOBS) {
      ctx.addIssue({ code: 'custom', path: ['instruments'], message: `${jobs} detectors make ${jobs} jobs; at most ${MAX_REPORT_JOBS}: split the report` });
    }
  });

/** A validated configuration, defaults applied. It is also valid input: it parses to itself. */
export type ReportConfig = z.infer<typeof reportConfigSchema>;

export interface ReportConfigIssue {
  readonly path: ReadonlyArray<string | number>;
  readonly message: string;
  /** 1-based position in the YAML text, when the configuration came as text. */
  readonly line?: number;
  readonly column?: number;
}

export type ReportConfigResult =
  | { readonly ok: true; readonly config: ReportConfig }
  | { readonly ok: false; readonly issues: readonly ReportConfigIssue[] };

export interface ParseReportConfigOptions {
  /** DAQFLOW_DATA_ROOT (absolute): when given, an out folder outside it is an issue. */
  readonly dataRoot?: string;
}

/** `instruments.SPB.detectors.AGIPD.paramters: unknown key; did you mean "parameters"? (line 12:7)` */
export const formatReportConfigIssue = (issue: ReportConfigIssue): string =>
  `${issue.path.length ? issue.path.join('.') : '(configuration)'}: ${issue.message}${
    issue.line === undefined ? '' : ` (line ${issue.line}:${issue.column ?? 1})`
  }`;

/** A 400 naming every problem (the first five in the message, all in `details.issues`). */
export const reportConfigError = (issues: readonly ReportConfigIssue[], what = 'report configuration'): ValidationError =>
  new ValidationError(
    `invalid ${what}: ${issues.slice(0, 5).map(formatReportConfigIssue).join('; ')}${issues.length > 5 ? `; and ${issues.length - 5} more` : ''}`,
    issues.map((i) => ({ ...i, path: i.path.map(String) })),
  );

interface ZodDef {
  readonly type: string;
  readonly shape?: Record<string, z.ZodType>;
  readonly valueType?: z.ZodType;
  readonly innerType?: z.ZodType;
  readonly element?: z.ZodType;
  readonly in?: z.ZodType;
  readonly options?: readonly z.ZodType[];
}

const defOf = (schema: z.ZodType): ZodDef => schema._zod.def as unknown as ZodDef;

/** Strips wrappers (optional, default, refinements…) down to the schema that has the shape. */
const unwrap = (schema: z.ZodType): z.ZodType => {
  for (let s = schema, i = 0; i < 20; i++) {
    const def = defOf(s);
    const inner = def.innerType ?? (def.type === 'pipe' ? def.in : undefined);
    if (!inner) return s;
    s = inner;
  }
  return schema;
};

/** The keys an object at `path` may have, following the schema (records and arrays by any key). */
const knownKeysAt = (schema: z.ZodType, path: ReadonlyArray<PropertyKey>): string[] => {
  let current: z.ZodType | undefined = unwrap(schema);
  for (const step of path) {
    if (!current) return [];
    const def = defOf(current);
    const next: z.ZodType | undefined =
      def.type === 'object' ? def.shape?.[String(step)] : def.type === 'record' ? def.valueType : def.type === 'array' ? def.element : undefined;
    current = next ? unwrap(next) : undefined;
  }
  if (!current) return [];
  const def = defOf(current);
  if (def.type === 'object') return Object.keys(def.shape ?? {});
  if (def.type === 'union') return (def.options ?? []).flatMap((o) => knownKeysAt(o, []));
  return [];
};

type RawIssue = z.core.$ZodIssue;

/** Zod's issues as configuration issues: one per unknown key, with a suggestion and the keys allowed. */
const issuesOf = (schema: z.ZodType, raw: readonly RawIssue[]): Array<ReportConfigIssue & { key?: string }> =>
  raw.flatMap((issue): Array<ReportConfigIssue & { key?: string }> => {
    const path = issue.path.map((p) => (typeof p === 'number' ? p : String(p)));
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(schema, issue.path);
      return issue.keys.map((key) => {
        const guess = didYouMean(key, known);
        const message = guess
          ? `unknown key; did you mean "${guess}"?`
          : `unknown key${known.length ? `; known keys: ${known.join(', ')}` : ''}`;
        return { path: [...path, key], message, key };
      });
    }
    if (issue.code === 'invalid_key') {
      const inner = issue.issues[0]?.message ?? issue.message;
      return [{ path, message: `invalid name: ${inner}`, key: String(path.at(-1)) }];
    }
    // Zod 4 keeps no input in its issues: a missing key is the type error that received undefined.
    if (issue.code === 'invalid_type' && /received undefined$/.test(issue.message)) return [{ path, message: 'required' }];
    return [{ path, message: issue.message }];
  });

// ---------------------------------------------------------------- out folder

/**
 * The out folder as an absolute path inside the data root, judged by its text alone ('..'
 * resolved, symlinks not followed): the adapters still check where it really is before writing.
 */
export const resolveOutFolder = (
  outFolder: string,
  dataRoot: string,
): { readonly ok: true; readonly path: string } | { readonly ok: false; readonly message: string } => {
  if (!dataRoot.startsWith('/')) return { ok: false, message: `the data root ${JSON.stringify(dataRoot)} is not an absolute path` };
  const root = normalizePosix(dataRoot);
  const path = resolvePosix(root, outFolder);
  if (!isInsidePosix(root, path)) {
    return {
      ok: false,
      message: `${JSON.stringify(outFolder)} resolves to ${path}, outside the data root ${root}; every output file must be inside DAQFLOW_DATA_ROOT`,
    };
  }
  return { ok: true, path };
};

// ---------------------------------------------------------------- parsing

const validate = (
  input: unknown,
  options: ParseReportConfigOptions,
  locate?: (issue: { path: ReadonlyArray<string | number>; key?: string }) => { line: number; column: number } | undefined,
): ReportConfigResult => {
  const where = (issue: ReportConfigIssue & { key?: string }): ReportConfigIssue => {
    const { key: _key, ...rest } = issue;
    const pos = locate?.(issue);
    return pos ? { ...rest, ...pos } : rest;
  };
  if (input === null || input === undefined || typeof input !== 'object' || Array.isArray(input)) {
    return { ok: false, issues: [where({ path: [], message: 'a report configuration is a mapping with global and instruments' })] };
  }
  const parsed = reportConfigSchema.safeParse(input);
  if (!parsed.success) return { ok: false, issues: issuesOf(reportConfigSchema, parsed.error.issues).map(where) };
  if (options.dataRoot !== undefined) {
    const out = resolveOutFolder(parsed.data.global.outFolder, options.dataRoot);
    if (!out.ok) return { ok: false, issues: [where({ path: ['global', 'outFolder'], message: out.message })] };
  }
  return { ok: true, config: parsed.data };
};

/**
 * Validates a report configuration given as YAML text or as an object (a request body's
 * `config`). YAML problems and schema problems come back as issues with a path and, for text,
 * the line and column; nothing throws.
 */
export const parseReportConfig = (input: string | object, options: ParseReportConfigOptions = {}): ReportConfigResult => {
  if (typeof input !== 'string') return validate(input, options);
  const lines = new LineCounter();
  // uniqueKeys: a key given twice is a mistake; YAML's "last one wins" would hide one of them.
  const doc = parseDocument(input, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      issues: doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        return { path: [], message: `YAML: ${e.message.split('\n')[0] ?? e.code}`, line: pos.line, column: pos.col };
      }),
    };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return { ok: false, issues: [{ path: [], message: `YAML: ${e instanceof Error ? e.message : String(e)}` }] };
  }
  return validate(value, options, (issue) => yamlPositionOf(doc, lines, issue));
};

// ---------------------------------------------------------------- helpers

export interface InstrumentSelection {
  readonly config: ReportConfig;
  /** `<instrument>` or `<instrument>.<detector>` entries chosen, in configuration order. */
  readonly instruments: readonly string[];
}

/**
 * The configuration cut down to the instruments (or `instrument.detector`s) asked for. No filter,
 * an empty one or `all` (the report service's default) keeps everything. An unknown name is refused with
 * the known ones listed.
 */
export const selectInstruments = (
  config: ReportConfig,
  filter?: readonly string[],
): { readonly ok: true; readonly selection: InstrumentSelection } | { readonly ok: false; readonly issues: readonly ReportConfigIssue[] } => {
  const known = Object.keys(config.instruments);
  if (!filter || filter.length === 0 || filter.some((f) => f.trim().toLowerCase() === 'all')) {
    return { ok: true, selection: { config, instruments: known } };
  }
  const wanted = new Map<string, Set<string> | 'all'>();
  const issues: ReportConfigIssue[] = [];
  filter.forEach((entry, index) => {
    const [instrument = '', detector, ...rest] = entry.trim().split('.');
    const inConfig = config.instruments[instrument];
    if (!inConfig || rest.length > 0) {
      const guess = didYouMean(instrument, known);
      issues.push({
        path: ['instruments', index],
        message: `unknown instrument ${JSON.stringify(entry)}${guess ? `; did you mean "${guess}"?` : ''} (known: ${known.join(', ')})`,
      });
      return;
    }
    if (detector === undefined) {
      wanted.set(instrument, 'all');
      return;
    }
    const detectors = Object.keys(inConfig.detectors);
    if (!inConfig.detectors[detector]) {
      const guess = didYouMean(detector, detectors);
      issues.push({
        path: ['instruments', index],
        message: `unknown detector ${JSON.stringify(detector)} of ${instrument}${guess ? `; did you mean "${guess}"?` : ''} (known: ${detectors.join(', ')})`,
      });
      return;
    }
    const before = wanted.get(instrument);
    if (before !== 'all') wanted.set(instrument, new Set([...(before ?? []), detector]));
  });
  if (issues.length > 0) return { ok: false, issues };
  const instruments: ReportConfig['instruments'] = {};
  const chosen: string[] = [];
  for (const [instrument, entry] of Object.entries(config.instruments)) {
    const want = wanted.get(instrument);
    if (want === undefined) continue;
    if (want === 'all') {
      instruments[instrument] = entry;
      chosen.push(instrument);
      continue;
    }
    const detectors = Object.fromEntries(Object.entries(entry.detectors).filter(([d]) => want.has(d)));
    instruments[instrument] = { ...entry, detectors };
    chosen.push(...Object.keys(detectors).map((d) => `${instrument}.${d}`));
  }
  return { ok: true, selection: { config: { ...config, instruments }, instruments: chosen } };
};

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** Objects merge key by key; arrays and scalars replace; `null` removes the key (a detector, say). */
const deepMerge = (base: unknown, override: unknown): unknown => {
  if (!isPlainObject(base) || !isPlainObject(override)) return override;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === null) delete merged[key];
    else merged[key] = deepMerge(base[key], value);
  }
  return merged;
};

/**
 * A one-off override laid over a configuration (the API's `override`, the CLI's `--set`): what it
 * names replaces the configuration's, down to single keys. The result is validated again, so an
 * override with a typo is refused like a configuration with one (paths are the same in both).
 */
export const mergeOverride = (config: ReportConfig, override: unknown, options: ParseReportConfigOptions = {}): ReportConfigResult => {
  if (override === undefined) return { ok: true, config };
  if (!isPlainObject(override)) return { ok: false, issues: [{ path: [], message: 'an override is a mapping like the configuration' }] };
  return validate(deepMerge(config, override), options);
};

/** The effective plot options of a detector: its own over the global ones. */
export const plotOptionsOf = (config: ReportConfig, detector: DetectorConfig): PlotOptions => ({
  ...config.global.plot,
  ...Object.fromEntries(Object.entries(detector.plot ?? {}).filter(([, v]) => v !== undefined)),
});

/** `[[30, 'd'], [12, 'h']]` for `30d12h`. */
export const durationParts = (text: string): Array<[number, string]> =>
  [...text.trim().matchAll(/(\d+)([smhdw])/g)].map((m) => [Number(m[1]), m[2] ?? 's']);
