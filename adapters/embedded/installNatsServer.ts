import { spawnSync } from 'node:child_process';
import type { Logger } from '../../actors/runtime/logger.js';
import { DaqflowError } from '../../events/errors.js';
import { findNatsServerBinary } from './natsServer.js';

/** The Debian package the embedded default runs, and the commands that install it. */
export const NATS_SERVER_PACKAGE = 'nats-server';
const INSTALL = ['apt-get', 'install', '-y', '-qq', NATS_SERVER_PACKAGE] as const;
const UPDATE = ['apt-get', 'update', '-qq'] as const;

/** Runs a command with its output on this process's stderr; true when it exited 0. */
export type CommandRunner = (command: readonly string[]) => boolean;

const runCommand: CommandRunner = ([command, ...args]) =>
  spawnSync(command as string, args, {
    // apt's progress goes to stderr, so that stdout stays the command's own answer.
    stdio: ['ignore', process.stderr, 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  }).status === 0;

export interface InstallOptions {
  /** false (`--no-install`, DAQFLOW_INSTALL=false): never install; refuse with an error saying what is missing. */
  readonly install: boolean;
  /** Whether this process may install Debian packages (root with apt-get); found out when absent. */
  readonly canInstall?: boolean;
  readonly run?: CommandRunner;
}

const mayInstall = (): boolean =>
  process.getuid?.() === 0 && spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * The embedded default needs Debian's nats-server. When it is missing and we may install
 * packages (root with apt-get), it says which package and command first, then installs; with
 * `install: false`, or without the right to install, the error says what to do instead.
 */
export const ensureNatsServerBinary = (logger: Logger, options: InstallOptions = { install: true }): string => {
  try {
    return findNatsServerBinary();
  } catch (missing) {
    if (!options.install) {
      throw new DaqflowError(
        'VALIDATION_FAILED',
        `nats-server not found, and --no-install (DAQFLOW_INSTALL=false) forbids installing the Debian package ${NATS_SERVER_PACKAGE}: ` +
          `install it yourself (${INSTALL.slice(0, 2).join(' ')} ${NATS_SERVER_PACKAGE}), set DAQFLOW_NATS_SERVER_BIN to its path, ` +
          'or point DAQFLOW_NATS_URL at a running server',
      );
    }
    if (!(options.canInstall ?? mayInstall())) throw missing;
    const run = options.run ?? runCommand;
    logger.warn(
      { package: NATS_SERVER_PACKAGE, command: INSTALL.join(' ') },
      `nats-server not found: installing the Debian package ${NATS_SERVER_PACKAGE} now (${INSTALL.join(' ')}); ` +
        'pass --no-install or set DAQFLOW_INSTALL=false to refuse instead',
    );
    if (!run(INSTALL)) {
      logger.warn({ command: UPDATE.join(' ') }, 'the install failed: updating the package lists and trying once more');
      run(UPDATE);
      run(INSTALL);
    }
    return findNatsServerBinary();
  }
};
