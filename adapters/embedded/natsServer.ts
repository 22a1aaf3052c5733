import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, mkdirSync, openSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { delimiter, join } from 'node:path';
import { DaqflowError } from '../../events/errors.js';
import { freePort } from './freePort.js';

export interface NatsServerOptions {
  /** JetStream store folder; created when missing. */
  readonly storeDir: string;
  /** Port to listen on; a free one when absent. */
  readonly port?: number;
  /** Log file; the server's own output goes there rather than to our terminal. */
  readonly logFile?: string;
}

export interface RunningNatsServer {
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** SIGTERM, then SIGKILL when it has not exited after `graceMs` (default 5000). */
  stop(graceMs?: number): Promise<void>;
}

const searchPath = (): string[] => [
  ...(process.env.PATH ?? '').split(delimiter),
  '/usr/sbin',
  '/usr/local/sbin',
  '/usr/local/bin',
];

/** The nats-server binary: $DAQFLOW_NATS_SERVER_BIN, else the PATH, else Debian's /usr/sbin. */
export const findNatsServerBinary = (): string => {
  const explicit = process.env.DAQFLOW_NATS_SERVER_BIN;
  const candidates = explicit ? [explicit] : searchPath().map((dir) => join(dir, 'nats-server'));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; try the next folder
    }
  }
  throw new DaqflowError(
    'INTERNAL',
    'nats-server not found: install it (Debian: apt-get install nats-server), set ' +
      'DAQFLOW_NATS_SERVER_BIN to its path, or point DAQFLOW_NATS_URL at a running server',
  );
};

/** Waits until something accepts connections on 127.0.0.1:`port`; fails when `child` exits first or after `timeoutMs`. */
export const waitForPort = async (port: number, child: ChildProcess, timeoutMs: number): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new DaqflowError('INTERNAL', `nats-server exited with code ${child.exitCode} at start`);
    }
    const open = await new Promise<boolean>((resolve) => {
      const socket = netConnect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new DaqflowError('INTERNAL', `nats-server did not listen on ${port} within ${timeoutMs} ms`);
};

/**
 * Starts `nats-server -js` as a child process bound to 127.0.0.1 and waits until it accepts
 * connections. It is stopped by stop() and killed when this process exits; a SIGKILL of this
 * process leaves it running, and startEmbeddedServers adopts it through its pid file.
 */
export const startNatsServer = async (options: NatsServerOptions): Promise<RunningNatsServer> => {
  const binary = findNatsServerBinary();
  const port = options.port ?? (await freePort());
  mkdirSync(options.storeDir, { recursive: true });
  const out = options.logFile ? openSync(options.logFile, 'a') : 'ignore';
  const child = spawn(binary, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', options.storeDir], {
    stdio: ['ignore', out, out],
    // A process group of its own: a terminal's Ctrl-C goes to daqflow alone, which stops its
    // server last, after its clients have closed, instead of losing it first.
    detached: true,
  });
  // The child has its own copy of the descriptor.
  if (typeof out === 'number') closeSync(out);
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  try {
    await waitForPort(port, child, 15_000);
  } catch (e) {
    child.kill('SIGKILL');
    const where = options.logFile ? `; its log: ${options.logFile}` : '';
    throw new DaqflowError('INTERNAL', `${(e as Error).message} (store ${options.storeDir}${where})`, {}, { cause: e });
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    process: child,
    stop: async (graceMs = 5_000) => {
      process.removeListener('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
};
