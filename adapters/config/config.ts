import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { isTimeZone } from '../../actors/grabs/grabWindow.js';
import { ValidationError } from '../../events/errors.js';
import { bsreadTransports } from '../bsread/bsreadTransport.js';
import { parseZmtpEndpoint } from '../bsread/zmtpSocket.js';
import { channelConfigSchema } from '../jobs/notifications/channelConfig.js';
import { notificationRuleSchema, notificationTriggers } from '../../actors/notifications/notificationRules.js';
import { NODE_NAME_PATTERN, NODE_NAME_RULE } from '../../actors/runtime/ownership.js';

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** libpq's sslmode values, as the pg client understands them. */
export const sslModes = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'] as const;

/** The NATS settings that only mean something for a configured server. */
const natsLoginKeys = [
  'natsUser',
  'natsPassword',
  'natsToken',
  'natsNkey',
  'natsCreds',
  'natsTlsCa',
  'natsTlsCert',
  'natsTlsKey',
  'natsTlsRequired',
] as const;

/** The server URLs of a comma-separated list. */
export const splitServers = (value: string): string[] =>
  value
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');

// Environment variables and flags arrive as text; a YAML file may hold a real boolean.
const booleanSetting = z.union([
  z.boolean(),
  z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes'),
]);

/** Configuration keys, as written in a `--config` YAML file (camelCase) and their env names. */
export const configKeys = {
  home: 'DAQFLOW_HOME',
  natsUrl: 'DAQFLOW_NATS_URL',
  natsUser: 'DAQFLOW_NATS_USER',
  natsPassword: 'DAQFLOW_NATS_PASSWORD',
  natsToken: 'DAQFLOW_NATS_TOKEN',
  natsNkey: 'DAQFLOW_NATS_NKEY',
  natsCreds: 'DAQFLOW_NATS_CREDS',
  natsTlsCa: 'DAQFLOW_NATS_TLSCA',
  natsTlsCert: 'DAQFLOW_NATS_TLSCERT',
  natsTlsKey: 'DAQFLOW_NATS_TLSKEY',
  natsTlsRequired: 'DAQFLOW_NATS_TLS_REQUIRED',
  databaseUrl: 'DAQFLOW_DATABASE_URL',
  databaseSslMode: 'DAQFLOW_DATABASE_SSLMODE',
  databaseSslRootCert: 'DAQFLOW_DATABASE_SSLROOTCERT',
  databaseSslCert: 'DAQFLOW_DATABASE_SSLCERT',
  databaseSslKey: 'DAQFLOW_DATABASE_SSLKEY',
  databasePasswordFile: 'DAQFLOW_DATABASE_PASSWORD_FILE',
  dataRoot: 'DAQFLOW_DATA_ROOT',
  bsreadStream: 'DAQFLOW_BSREAD_STREAM',
  bsreadMode: 'DAQFLOW_BSREAD_MODE',
  bsreadReceiver: 'DAQFLOW_BSREAD_RECEIVER',
  bufferLength: 'DAQFLOW_BUFFER_LENGTH',
  archiverUrl: 'DAQFLOW_ARCHIVER_URL',
  archiverTimeoutMs: 'DAQFLOW_ARCHIVER_TIMEOUT_MS',
  bsreadRepublish: 'DAQFLOW_BSREAD_REPUBLISH',
  reportConfig: 'DAQFLOW_REPORT_CONFIG',
  slurmBinDir: 'DAQFLOW_SLURM_BIN_DIR',
  localJobs: 'DAQFLOW_LOCAL_JOBS',
  timeZone: 'DAQFLOW_TIMEZONE',
  stream: 'DAQFLOW_STREAM',
  streamReplicas: 'DAQFLOW_STREAM_REPLICAS',
  subjectPrefix: 'DAQFLOW_SUBJECT_PREFIX',
  logLevel: 'DAQFLOW_LOG_LEVEL',
  restPort: 'DAQFLOW_REST_PORT',
  restHost: 'DAQFLOW_REST_HOST',
  restToken: 'DAQFLOW_REST_TOKEN',
  shutdownTimeoutMs: 'DAQFLOW_SHUTDOWN_TIMEOUT_MS',
  startTimeoutMs: 'DAQFLOW_START_TIMEOUT_MS',
  notifyWebhook: 'DAQFLOW_NOTIFY_WEBHOOK',
  notifyOn: 'DAQFLOW_NOTIFY_ON',
  notifyLinkBase: 'DAQFLOW_NOTIFY_LINK_BASE',
  http: 'DAQFLOW_HTTP',
  projector: 'DAQFLOW_PROJECTOR',
  roles: 'DAQFLOW_ROLES',
  node: 'DAQFLOW_NODE',
  leaseTtlMs: 'DAQFLOW_LEASE_TTL_MS',
  install: 'DAQFLOW_INSTALL',
} as const;

export type ConfigKey = keyof typeof configKeys;

/** Where the HTTP server listens. */
export interface HttpAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * `none`, `host:port`, `[v6]:port` or `:port` (all interfaces); otherwise the reason it is
 * not one, as a sentence.
 */
export const parseHttpAddress = (text: string): HttpAddress | 'none' | string => {
  const value = text.trim();
  if (value === 'none') return 'none';
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s[\]]*)):(\d{1,5})$/.exec(value);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65_535) return `${text} is not host:port (e.g. 127.0.0.1:8080, :8080, [::1]:8080) or none`;
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
};

/** Dot-separated tokens: what may stand before every daqflow subject. */
export const subjectPrefixPattern = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

const hostnameToken = (): string => hostname().replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 128) || 'node';

const configSchema = z.strictObject({
  home: z.string().min(1).default('.daqflow'),
  /** One URL, or several separated by commas (the servers of a cluster). */
  natsUrl: z
    .string()
    .min(1)
    .refine((v) => splitServers(v).length > 0, 'one or more NATS URLs separated by commas')
    .optional(),
  natsUser: z.string().min(1).optional(),
  natsPassword: z.string().min(1).optional(),
  natsToken: z.string().min(1).optional(),
  /** File holding an nkey seed (SU...). */
  natsNkey: z.string().min(1).optional(),
  /** `.creds` file: a user JWT and its nkey seed, as `nsc` writes it. */
  natsCreds: z.string().min(1).optional(),
  natsTlsCa: z.string().min(1).optional(),
  natsTlsCert: z.string().min(1).optional(),
  natsTlsKey: z.string().min(1).optional(),
  natsTlsRequired: booleanSetting.default(false),
  databaseUrl: z.string().min(1).optional(),
  databaseSslMode: z.enum(sslModes).optional(),
  databaseSslRootCert: z.string().min(1).optional(),
  databaseSslCert: z.string().min(1).optional(),
  databaseSslKey: z.string().min(1).optional(),
  /** File whose first line is the database password (as a container secret is mounted). */
  databasePasswordFile: z.string().min(1).optional(),
  dataRoot: z.string().min(1).optional(),
  bsreadStream: z.string().min(1).optional(),
  bsreadMode: z.enum(['pull', 'sub']).default('pull'),
  /** How the stream is read: daqflow's ZMTP reader (tcp:// and ipc://) or zeromq.js (any libzmq transport). */
  bsreadReceiver: z.enum(bsreadTransports).default('zmtp'),
  bufferLength: z.coerce.number().int().min(1).default(1_000),
  archiverUrl: z.string().url('an http(s) URL, e.g. http://archiver:17668/retrieval').optional(),
  /** Time limit of one data-logger request, its whole answer included: a stalled or trickling answer ends as a retryable TIMEOUT. */
  archiverTimeoutMs: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
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
  /**
   * Replicas of the event stream when daqflow creates it (and of what daqflow keeps beside it);
   * an existing stream keeps its own, `up` warns when they differ.
   */
  streamReplicas: z.coerce.number().int().min(1, 'at least 1').max(5, 'at most 5, as JetStream allows').default(1),
  subjectPrefix: z
    .string()
    .regex(subjectPrefixPattern, 'dot-separated tokens of letters, digits, _ and -')
    .default('daqflow'),
  logLevel: z.enum(logLevels).default('info'),
  /** Port of the sf_bsread_writer REST shim that `daqflow up` starts; absent, no shim. */
  restPort: z.coerce.number().int().min(0).max(65_535).optional(),
  // Loopback, as sf_bsread_writer listened: the shim has no authentication.
  restHost: z.string().min(1).default('127.0.0.1'),
  /** Bearer token every shim request must carry; for a shim opened beyond loopback. */
  restToken: z.string().min(16, 'at least 16 characters').optional(),
  /**
   * How long `daqflow up` may take to stop in order on SIGINT or SIGTERM before it stops its
   * servers and exits anyway (docs/operations.md).
   */
  shutdownTimeoutMs: z.coerce.number().int().min(1_000).max(600_000).default(10_000),
  /**
   * How long `daqflow up` waits for NATS and JetStream at start (a server not up yet, a cluster
   * electing its leaders) before it gives up with an error saying what to check; 0 tries once.
   */
  startTimeoutMs: z.coerce.number().int().min(0).max(3_600_000).default(60_000),
  /** The simplest notification set-up: a Mattermost or Slack incoming webhook for every job (docs/notifications.md). */
  notifyWebhook: z.string().url().optional(),
  /** What that webhook hears: comma-separated triggers. */
  notifyOn: z
    .string()
    .transform((v) => v.split(',').map((t) => t.trim()).filter(Boolean))
    .pipe(z.array(z.enum(notificationTriggers)).min(1))
    .default(['failed', 'timed_out', 'lostPulses', 'fireFailed']),
  /** Address of daqflow's status page, for links in notifications. */
  notifyLinkBase: z.string().url().optional(),
  /** Channels and rules (YAML only). */
  notify: z
    .strictObject({
      channels: z.record(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, '1-64 of A-Z a-z 0-9 _ -'), channelConfigSchema).default({}),
      rules: z.array(notificationRuleSchema).default([]),
    })
    .optional(),
  /**
   * Where `daqflow up` serves the status pages, `/metrics`, `/healthz` and `/readyz`: `host:port`
   * (port 0 picks a free one), or `none`. Loopback by default: the pages have no authentication.
   */
  http: z
    .string()
    .transform((text, ctx): HttpAddress | 'none' => {
      const parsed = parseHttpAddress(text);
      if (typeof parsed === 'string' && parsed !== 'none') {
        ctx.addIssue({ code: 'custom', message: parsed });
        return z.NEVER;
      }
      return parsed;
    })
    .default({ host: '127.0.0.1', port: 8080 }),
  /**
   * Where `daqflow up` runs the live projector: on a worker thread of its own, or on the event
   * loop it shares with the runtime (docs/operations.md says how to choose).
   */
  projector: z.enum(['thread', 'inline']).default('inline'),
  /**
   * What this process runs (docs/architecture.md, "Processes"): `api`, `projector`, and
   * job kinds by their module name (`demo`, `grabs`, …); `all` (the default) is every one.
   * Unknown names are refused where the module list is known (`daqflow up`).
   */
  roles: z
    .string()
    .transform((v) => v.split(',').map((t) => t.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^[a-z][a-z0-9-]*$/, 'role names are lower-case words, e.g. api,grabs')).min(1))
    .default(['all']),
  /** The name of this process's node in its presence entry (default: the host name). */
  node: z.string().regex(NODE_NAME_PATTERN, NODE_NAME_RULE).default(() => hostnameToken()),
  /**
   * How long an actor's owner may go without renewing its presence before other processes take
   * its actors over; the owner stops their effects a third of it earlier.
   */
  leaseTtlMs: z.coerce.number().int().min(1_500).max(600_000).default(10_000),
  /**
   * Whether the embedded default may install the Debian package it needs (nats-server) when it
   * is missing; false (`daqflow up --no-install`) refuses with an error instead. A service
   * manager's unit sets it false: a service should not change the machine's packages.
   */
  install: booleanSetting.default(true),
}).superRefine((config, ctx) => {
  for (const [index, rule] of (config.notify?.rules ?? []).entries()) {
    const named = rule.channel === 'default' && config.notifyWebhook !== undefined;
    if (!named && config.notify?.channels[rule.channel] === undefined) {
      ctx.addIssue({ code: 'custom', path: ['notify', 'rules', index, 'channel'], message: `no channel ${rule.channel} under notify.channels` });
    }
    if (rule.on.includes('digest') && rule.at === undefined) {
      ctx.addIssue({ code: 'custom', path: ['notify', 'rules', index, 'at'], message: 'a digest rule needs its time of day, e.g. at: "07:30"' });
    }
  }
  // Login settings for the embedded server would be ignored without a word.
  if (config.natsUrl === undefined) {
    for (const key of natsLoginKeys) {
      if (config[key] !== undefined && config[key] !== false) {
        ctx.addIssue({ code: 'custom', path: [key], message: 'needs natsUrl (DAQFLOW_NATS_URL): the embedded nats-server takes no login' });
      }
    }
  }
  const logins = (['natsUser', 'natsToken', 'natsNkey', 'natsCreds'] as const).filter((key) => config[key] !== undefined);
  if (logins.length > 1) {
    ctx.addIssue({ code: 'custom', path: [logins[1]!], message: `only one way of logging in at a time: ${logins.join(' and ')} are both set` });
  }
  if (config.natsPassword !== undefined && config.natsUser === undefined) {
    ctx.addIssue({ code: 'custom', path: ['natsPassword'], message: 'needs natsUser (DAQFLOW_NATS_USER)' });
  }
  if ((config.natsTlsCert === undefined) !== (config.natsTlsKey === undefined)) {
    ctx.addIssue({ code: 'custom', path: [config.natsTlsCert ? 'natsTlsKey' : 'natsTlsCert'], message: 'a client certificate needs both natsTlsCert and natsTlsKey' });
  }
  if (config.databaseUrl === undefined) {
    for (const key of ['databaseSslMode', 'databaseSslRootCert', 'databaseSslCert', 'databaseSslKey', 'databasePasswordFile'] as const) {
      if (config[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: 'needs databaseUrl (DAQFLOW_DATABASE_URL): the embedded PostgreSQL takes none' });
    }
  }
  if ((config.databaseSslCert === undefined) !== (config.databaseSslKey === undefined)) {
    ctx.addIssue({ code: 'custom', path: [config.databaseSslCert ? 'databaseSslKey' : 'databaseSslCert'], message: 'a client certificate needs both databaseSslCert and databaseSslKey' });
  }
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
