import type { NatsConnection } from '@nats-io/nats-core';
import type { Command } from 'commander';
import type { Logger as PinoLogger } from 'pino';
import { loadConfig, type ConfigKey, type DaqflowConfig } from '../config/config.js';
import { startEmbeddedServers, type EmbeddedServers } from '../embedded/embeddedServers.js';
import { connectNats } from '../jetstream/connection.js';
import { natsSettingsOf, type NatsSettings } from '../jetstream/natsSettings.js';
import { databaseUrlOf } from '../postgres/databaseUrl.js';
import { createLogger } from '../logging/logger.js';

/** Options every command shares; commander fills them from the flags. */
export interface GlobalOptions {
  readonly config?: string;
  readonly home?: string;
  readonly natsUrl?: string;
  readonly natsUser?: string;
  readonly natsPassword?: string;
  readonly natsToken?: string;
  readonly natsNkey?: string;
  readonly natsCreds?: string;
  readonly natsTlsca?: string;
  readonly natsTlscert?: string;
  readonly natsTlskey?: string;
  readonly natsTlsRequired?: boolean;
  readonly databaseUrl?: string;
  readonly stream?: string;
  readonly streamReplicas?: string;
  readonly subjectPrefix?: string;
  readonly logLevel?: string;
  /** false from `--no-install` (commander's default for it is true: only false is passed on). */
  readonly install?: boolean;
  /** `daqflow up --roles`: comma-separated roles of this process. */
  readonly roles?: string;
  /** `daqflow up --node`: the node name in this process's presence entry. */
  readonly node?: string;
}

export interface CliContext {
  readonly config: DaqflowConfig;
  readonly logger: PinoLogger;
}

/** Adds the flags shared by every command (each overrides its DAQFLOW_* variable). */
export const withGlobalOptions = (command: Command): Command =>
  command
    .option('-c, --config <file>', 'YAML configuration file (keys as in docs/configuration.md)')
    .option('--home <dir>', 'folder for embedded servers and data (DAQFLOW_HOME, default ./.daqflow)')
    .option('--nats-url <urls>', 'NATS server(s) to use instead of the embedded one, comma-separated (DAQFLOW_NATS_URL)')
    .option('--nats-user <name>', 'NATS user (DAQFLOW_NATS_USER)')
    .option('--nats-password <password>', 'password of --nats-user; prefer DAQFLOW_NATS_PASSWORD, which ps does not show')
    .option('--nats-token <token>', 'NATS token (DAQFLOW_NATS_TOKEN)')
    .option('--nats-nkey <file>', 'file with an nkey seed (DAQFLOW_NATS_NKEY)')
    .option('--nats-creds <file>', 'NATS .creds file: user JWT and nkey seed (DAQFLOW_NATS_CREDS)')
    .option('--nats-tlsca <file>', 'CA certificate(s) that sign the NATS server certificate (DAQFLOW_NATS_TLSCA)')
    .option('--nats-tlscert <file>', 'TLS client certificate (DAQFLOW_NATS_TLSCERT)')
    .option('--nats-tlskey <file>', 'key of the TLS client certificate (DAQFLOW_NATS_TLSKEY)')
    .option('--nats-tls-required', 'refuse a NATS connection without TLS (DAQFLOW_NATS_TLS_REQUIRED)')
    .option('--database-url <url>', 'PostgreSQL to use instead of the embedded one (DAQFLOW_DATABASE_URL)')
    .option('--stream <name>', 'JetStream stream of the events (DAQFLOW_STREAM, default DAQFLOW_EVENTS)')
    .option('--stream-replicas <n>', 'replicas of the stream when it is created, 1 to 5; 3 on a three-node cluster (DAQFLOW_STREAM_REPLICAS, default 1)')
    .option('--subject-prefix <prefix>', 'first subject token of every daqflow subject (DAQFLOW_SUBJECT_PREFIX, default daqflow)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (DAQFLOW_LOG_LEVEL, default info)');

/** Builds the configuration and logger a command runs with. */
export const cliContext = (options: GlobalOptions, defaults: { logLevel?: string } = {}): CliContext => {
  const flags: Partial<Record<ConfigKey, unknown>> = {
    home: options.home,
    natsUrl: options.natsUrl,
    natsUser: options.natsUser,
    natsPassword: options.natsPassword,
    natsToken: options.natsToken,
    natsNkey: options.natsNkey,
    natsCreds: options.natsCreds,
    natsTlsCa: options.natsTlsca,
    natsTlsCert: options.natsTlscert,
    natsTlsKey: options.natsTlskey,
    natsTlsRequired: options.natsTlsRequired,
    databaseUrl: options.databaseUrl,
    stream: options.stream,
    streamReplicas: options.streamReplicas,
    subjectPrefix: options.subjectPrefix,
    logLevel: options.logLevel,
    install: options.install === false ? false : undefined,
    roles: options.roles,
    node: options.node,
  };
  const config = loadConfig({ file: options.config, flags });
  // Tools print their answer on stdout; they log only warnings unless a level was set somewhere.
  const level = config.explicit.has('logLevel') ? config.logLevel : (defaults.logLevel ?? config.logLevel);
  return { config, logger: createLogger(level) };
};

/**
 * The servers a tool command talks to: the configured ones, else those of a running
 * `daqflow up` in the same home, else embedded ones started for this command only.
 */
export const toolServers = (context: CliContext): Promise<EmbeddedServers> =>
  startEmbeddedServers(
    context.config.homeDir,
    { natsUrl: context.config.natsUrl, databaseUrl: databaseUrlOf(context.config), install: context.config.install },
    context.logger,
    'borrow',
  );

/** How a tool connects to the NATS server it was given (configured, or a running `daqflow up`'s). */
export const natsOf = (context: CliContext, servers: { readonly natsUrl: string }): NatsSettings =>
  natsSettingsOf(context.config, servers.natsUrl);

/** Runs `work` with a NATS connection to the tool's servers (see toolServers), closing both after. */
export const withToolNats = async <T>(context: CliContext, work: (nc: NatsConnection) => Promise<T>): Promise<T> => {
  const servers = await toolServers(context);
  const nc = await connectNats(natsOf(context, servers), 'daqflow-cli').catch(async (e: unknown) => {
    await servers.stop();
    throw e;
  });
  try {
    return await work(nc);
  } finally {
    await nc.close();
    await servers.stop();
  }
};
