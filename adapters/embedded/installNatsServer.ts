import { spawnSync } from 'node:child_process';
import type { Logger } from '../../actors/runtime/logger.js';
import { findNatsServerBinary } from './natsServer.js';

const run = (command: string, args: string[]): boolean =>
  spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;

/**
 * The embedded default needs Debian's nats-server. When it is missing and we may install
 * packages (root with apt-get), install it, saying so; otherwise the error says how.
 */
export const ensureNatsServerBinary = (logger: Logger): string => {
  try {
    return findNatsServerBinary();
  } catch (missing) {
    const root = process.getuid?.() === 0;
    const apt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
    if (!root || !apt) throw missing;
    logger.warn({}, 'nats-server not found: installing the Debian package nats-server with apt-get');
    if (!run('apt-get', ['install', '-y', '-qq', 'nats-server'])) {
      run('apt-get', ['update', '-qq']);
      run('apt-get', ['install', '-y', '-qq', 'nats-server']);
    }
    return findNatsServerBinary();
  }
};
