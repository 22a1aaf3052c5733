import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { isTimeZone } from '../../actors/grabRun/grabWindow.js';
import { ValidationError } from '../../events/errors.js';
import { bsreadTransports } from '../bsread/bsreadTransport.js';
import { parseZmtpEndpoint } from '../bsread/zmtpSocket.js';

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Configuration keys, as written in a `--config` YAML file (camelCase) and their env names. */
export const configKeys = {
  home: 'DAQFLOW_HOME',
  natsUrl: 'DAQFLOW_NATS_URL',
  databaseUrl: 'DAQFLOW_DATABASE_URL',
  dataRoot: 'DAQFLOW_DATA_ROOT',
  bsreadStream: 'DAQFLOW_BSREAD_STREAM',
  bsreadMode: 'DAQFLOW_BSREAD_MODE',
  bsreadReceiver: 'DAQFLOW_BSREAD_RECEIVER',
  bufferLength: 'DAQFLOW_BUFFER_LENGTH',
  archiverUrl: 'DAQFLOW_ARCHIVER_URL',
  bsreadRepublish: 'DAQFLOW_BSREAD_REPUBLISH',
  reportConfig: 'DAQFLOW_REPORT_CONFIG',
  slurmBinDir: 'DAQFLOW_SLURM_BIN_DIR',
  localJobs: 'DAQFLOW_LOCAL_JOBS',
  timeZone: 'DAQFLOW_TIMEZONE',
  stream: 'DAQFLOW_STREAM',
  subjectPrefix: 'DAQFLOW_SUBJECT_PREFIX',
  logLevel: 'DAQFLOW_LOG_LEVEL',
  restPort: 'DAQFLOW_REST_PORT',
  restHost: 'DAQFLOW_REST_HOST',
  shutdownTimeoutMs: 'DAQFLOW_SHUTDOWN_TIMEOUT_MS',
  projector: 'DAQFLOW_PROJECTOR',
} as const;

export type ConfigKey = keyof typeof configKeys;

/** Dot-separated tokens: what may stand before every daqflow subject. */
export const subjectPrefixPattern = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

const configSchema = z.strictObject({
  home: z.string().min(1).default('.daqflow'),
  natsUrl: z.string().min(1).optional(),
  databaseUrl: z.string().min(1).optional(),
  dataRoot: z.string().min(1).optional(),
  bsreadStream: z.string().min(1).optional(),
  bsreadMode: z.enum(['pull', 'sub']).default('pull'),
  /** How the stream is read: daqflow's ZMTP reader (tcp:// and ipc://) or zeromq.js (any libzmq transport). */
  bsreadReceiver: z.enum(bsreadTransports).default('zmtp'),
  bufferLength: z.coerce.number().int().min(1).default(1_000),
  archiverUrl: z.string().url('an http(s) URL, e.g. http://archiver:17668/retrieval').optional(),
  /** Re-publish the received bsread stream on a ZeroMQ PUB socket bound here, e.g. `tcp://*:9998`. */
  bsreadRepublish: z.string().min(1).optional(),
  /** The report configuration used when a report request names none. */
  reportConfig: z.string().min(1).optional(),
  /** Folder of sbatch, squeue and scancel when they are not on PATH. */
  slurmBinDir: z.string().min(1).optional(),
  /** Report jobs the local runner runs at once. */
  localJobs: z.coerce.number().int().min(1).max(256).default(2),
  timeZone: z
    .string()
    .refine(isTimeZone, 'an IANA time zone, e.g. Europe/Zurich or America/Chicago')
    .default(() => Intl.DateTimeFormat().resolvedOptions().timeZone),
  stream: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only').default('DAQFLOW_EVENTS'),
  subjectPrefix: z
    .string()
    .regex(subjectPrefixPattern, 'dot-separated tokens of letters, digits, _ and -')
    .default('daqflow'),
  logLevel: z.enum(logLevels).default('info'),
  /** Port of the sf_bsread_writer REST shim that `daqflow up` starts; absent, no shim. */
  restPort: z.coerce.number().int().min(0).max(65_535).optional(),
  // Loopback, as sf_bsread_writer listened: the shim has no authentication.
  restHost: z.string().min(1).default('127.0.0.1'),
  /**
   * How long `daqflow up` may take to stop in order on SIGINT or SIGTERM before it stops its
   * servers and exits anyway (docs/operations.md).
   */
  shutdownTimeoutMs: z.coerce.number().int().min(1_000).max(600_000).default(10_000),
  /**
   * Where `daqflow up` runs the live projector: on a worker thread of its own, or on the event
   * loop it shares with the runtime (docs/operations.md says how to choose).
   */
  projector: z.enum(['thread', 'inline']).default('thread'),
}).superRefine((config, ctx) => {
  // Refused at start-up, not at the first connection attempt.
  if (config.bsreadStream === undefined || config.bsreadReceiver !== 'zmtp') return;
  try {
    parseZmtpEndpoint(config.bsreadStream);
  } catch (e) {
    ctx.addIssue({ code: 'custom', path: ['bsreadStream'], message: (e as Error).message });
  }
});

/** daqflow's configuration after defaults, environment, `--config` file and flags are merged. */
export type DaqflowConfig = z.infer<typeof configSchema> & {
  /** Keys that were set somewhere (environment, file or flag) rather than defaulted. */
  readonly explicit: ReadonlySet<ConfigKey>;
  /** Absolute path of `home`. */
  readonly homeDir: string;
  /** Absolute path of `dataRoot` (default: `<home>/data`). */
  readonly dataRootDir: string;
};

const fromEnv = (env: NodeJS.ProcessEnv): Partial<Record<ConfigKey, string>> => {
  const out: Partial<Record<ConfigKey, string>> = {};
  for (const [key, name] of Object.entries(configKeys) as [ConfigKey, string][]) {
    const value = env[name];
    if (value !== undefined && value !== '') out[key] = value;
  }
  return out;
};

const fromFile = (path: string): Record<string, unknown> => {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ValidationError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (e) {
    throw new ValidationError(`config file ${path} is not valid YAML: ${(e as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ValidationError(`config file ${path} must hold a mapping of keys to values`);
  }
  return parsed as Record<string, unknown>;
};

/**
 * Loads the configuration: defaults, then the environment (`DAQFLOW_*`), then the `--config`
 * YAML file, then flags. An unknown key or a bad value fails with a message naming it.
 */
export const loadConfig = (
  options: { env?: NodeJS.ProcessEnv; file?: string; flags?: Partial<Record<ConfigKey, unknown>>; cwd?: string } = {},
): DaqflowConfig => {
  const cwd = options.cwd ?? process.cwd();
  const merged: Record<string, unknown> = {
    ...fromEnv(options.env ?? process.env),
    ...(options.file ? fromFile(resolve(cwd, options.file)) : {}),
  };
  for (const [key, value] of Object.entries(options.flags ?? {})) {
    if (value !== undefined) merged[key] = value;
  }
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = issue.path.map(String).join('.') || (issue as { keys?: string[] }).keys?.join(', ') || '(config)';
      const env = configKeys[key as ConfigKey];
      return `${key}${env ? ` (${env})` : ''}: ${issue.message}`;
    });
    throw new ValidationError(`invalid configuration: ${problems.join('; ')}`, parsed.error.issues);
  }
  const homeDir = resolve(cwd, parsed.data.home);
  return {
    ...parsed.data,
    explicit: new Set(Object.keys(merged).filter((k) => merged[k] !== undefined) as ConfigKey[]),
    homeDir,
    dataRootDir: resolve(cwd, parsed.data.dataRoot ?? resolve(homeDir, 'data')),
  };
};
