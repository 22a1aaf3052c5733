import type { NatsConnection } from '@nats-io/nats-core';
import type { Command } from 'commander';
import type { Logger as PinoLogger } from 'pino';
import { loadConfig, type ConfigKey, type DaqflowConfig } from '../config/config.js';
import { startEmbeddedServers, type EmbeddedServers } from '../embedded/embeddedServers.js';
import { connectNats } from '../jetstream/connection.js';
import { createLogger } from '../logging/logger.js';

/** Options every command shares; commander fills them from the flags. */
export interface GlobalOptions {
  readonly config?: string;
  readonly home?: string;
  readonly natsUrl?: string;
  readonly databaseUrl?: string;
  readonly stream?: string;
  readonly subjectPrefix?: string;
  readonly logLevel?: string;
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
    .option('--nats-url <url>', 'NATS server to use instead of the embedded one (DAQFLOW_NATS_URL)')
    .option('--database-url <url>', 'PostgreSQL to use instead of the embedded one (DAQFLOW_DATABASE_URL)')
    .option('--stream <name>', 'JetStream stream of the events (DAQFLOW_STREAM, default DAQFLOW_EVENTS)')
    .option('--subject-prefix <prefix>', 'first subject token of every daqflow subject (DAQFLOW_SUBJECT_PREFIX, default daqflow)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (DAQFLOW_LOG_LEVEL, default info)');

/** Builds the configuration and logger a command runs with. */
export const cliContext = (options: GlobalOptions, defaults: { logLevel?: string } = {}): CliContext => {
  const flags: Partial<Record<ConfigKey, unknown>> = {
    home: options.home,
    natsUrl: options.natsUrl,
    databaseUrl: options.databaseUrl,
    stream: options.stream,
    subjectPrefix: options.subjectPrefix,
    logLevel: options.logLevel,
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
    { natsUrl: context.config.natsUrl, databaseUrl: context.config.databaseUrl },
    context.logger,
    'borrow',
  );

/** Runs `work` with a NATS connection to the tool's servers (see toolServers), closing both after. */
export const withToolNats = async <T>(context: CliContext, work: (nc: NatsConnection) => Promise<T>): Promise<T> => {
  const servers = await toolServers(context);
  const nc = await connectNats(servers.natsUrl, 'daqflow-cli');
  try {
    return await work(nc);
  } finally {
    await nc.close();
    await servers.stop();
  }
};
