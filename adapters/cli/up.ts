import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DaqflowError } from '../../events/errors.js';
import { installProcessGuard } from '../app/processGuard.js';
import { startDaqflow } from '../app/startDaqflow.js';
import { isProcessAlive } from '../embedded/adoptOrphan.js';
import { startEmbeddedServers } from '../embedded/embeddedServers.js';
import { databaseUrlOf } from '../postgres/databaseUrl.js';
import type { HttpServer } from '../http/startHttpServer.js';
import { startWriterRestShim, type WriterRestShim } from '../restShim/writerRestShim.js';
import { cliContext, type GlobalOptions } from './context.js';

const refuseSecondInstance = (pidFile: string): void => {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return;
  }
  if (pid && pid !== process.pid && isProcessAlive(pid, 'daqflow')) {
    throw new DaqflowError('WRONG_STATE', `daqflow up is already running in this home (pid ${pid}); stop it first or use another --home`);
  }
};

/** Takes the home's pid file, created exclusively so that two `up` started together cannot both pass. */
const claimPidFile = (pidFile: string): void => {
  mkdirSync(dirname(pidFile), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(pidFile, `${process.pid}\n`, { flag: 'wx' });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      refuseSecondInstance(pidFile);
      // Left by a run that died: take it over.
      rmSync(pidFile, { force: true });
    }
  }
  refuseSecondInstance(pidFile);
};

/** How long the servers get to stop once a shutdown ran out of time. */
const FORCED_SERVER_STOP_MS = 3_000;

/**
 * `daqflow up`: every role in this process, on the embedded default unless URLs are given.
 * Stops on SIGINT or SIGTERM in order (docs/operations.md), within `shutdownTimeoutMs`, and
 * exits 0; past that it stops its servers anyway and exits 1. It exits itself rather than wait
 * for the event loop to empty, so that a library handle left open cannot keep it alive.
 */
export const runUp = async (options: GlobalOptions): Promise<void> => {
  const { config, logger } = cliContext(options);
  // Before anything that holds a connection: a client's stray 'error' event must not end every job.
  const guard = installProcessGuard(logger);
  const pidFile = join(config.homeDir, 'daqflow.pid');
  claimPidFile(pidFile);
  // Listening from the start: a signal that came between "ready" and its handler (a loaded
  // machine can preempt the process right after the write) would otherwise end it with the
  // default action, skipping the ordered stop. One that comes during start-up is kept and
  // acted on as soon as everything is up.
  let pendingSignal: string | undefined;
  let pendingAt = 0;
  let onSignal = (signal: string): void => {
    if (pendingSignal === undefined) {
      pendingSignal = signal;
      pendingAt = Date.now();
      logger.info({ signal }, 'stop asked during start-up: stopping once started (again to exit at once)');
    } else if (Date.now() - pendingAt > 1_500) {
      // A start-up that hangs (an install, a server that never answers) must stay interruptible.
      logger.warn({ signal }, 'second signal during start-up: exiting at once');
      process.exit(1);
    }
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  let servers;
  let app;
  let shim: WriterRestShim | undefined;
  let http: HttpServer | undefined;
  try {
    servers = await startEmbeddedServers(
      config.homeDir,
      { natsUrl: config.natsUrl, databaseUrl: databaseUrlOf(config), install: config.install },
      logger,
      'own',
    );
    app = await startDaqflow(config, servers, logger);
    if (config.restPort !== undefined) {
      const daqflow = app;
      shim = await startWriterRestShim({
        nc: daqflow.nc,
        subjectPrefix: config.subjectPrefix,
        port: config.restPort,
        host: config.restHost,
        ...(config.restToken ? { token: config.restToken } : {}),
        logger: logger.child({ component: 'rest-shim' }),
        streamCounters: () => daqflow.bsread.counters(),
      });
    }
    if (config.http !== 'none') {
      // Loaded here, not at the top: every other command would pay for fastify's start-up.
      const { startHttpServer } = await import('../http/startHttpServer.js');
      http = await startHttpServer({
        daqflow: app,
        address: config.http,
        dataRoot: config.dataRootDir,
        logger: logger.child({ component: 'http' }),
      });
    }
  } catch (e) {
    await http?.close();
    await shim?.close();
    await app?.stop();
    await servers?.stop();
    rmSync(pidFile, { force: true });
    guard.uninstall();
    throw e;
  }
  const shown = (url: string): string => url.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@');
  process.stdout.write(
    `daqflow up: ready\n` +
      `  nats      ${servers.natsUrl} (stream ${config.stream}, subjects ${config.subjectPrefix}.>)\n` +
      `  postgres  ${shown(servers.databaseUrl)}\n` +
      `  home      ${config.homeDir}\n` +
      (http ? `  http      ${http.url} (status pages, /metrics, /healthz, /readyz)\n` : '') +
      (shim ? `  rest      ${shim.url} (sf_bsread_writer's API, docs/rest-shim.md)\n` : '') +
      `Try \`npx daqflow demo\` in another terminal, \`npx daqflow status\` to see the actors. Ctrl-C stops.\n`,
  );
  const timeoutMs = config.shutdownTimeoutMs;
  const exitCode = await new Promise<number>((resolve) => {
    let stoppingSince = 0;
    const stop = (signal: string): void => {
      if (stoppingSince) {
        // npx forwards the terminal's Ctrl-C, so one keypress can arrive twice: only a second
        // press a moment later means "exit now".
        if (Date.now() - stoppingSince < 1_500) return;
        logger.warn({ signal }, 'second signal: exiting at once');
        void servers.stop(0).finally(() => process.exit(1));
        return;
      }
      stoppingSince = Date.now();
      logger.info({ signal, timeoutMs }, 'stopping');
      let step = 'HTTP server and REST shim';
      let settled = false;
      const finish = (code: number): void => {
        if (settled) return;
        settled = true;
        clearTimeout(force);
        rmSync(pidFile, { force: true });
        resolve(code);
      };
      const force = setTimeout(() => {
        logger.error(
          { step, timeoutMs },
          `the stop did not finish within ${timeoutMs} ms (still at: ${step}); stopping the servers and exiting (DAQFLOW_SHUTDOWN_TIMEOUT_MS)`,
        );
        void servers.stop(FORCED_SERVER_STOP_MS).finally(() => finish(1));
      }, timeoutMs);
      // The HTTP server and the shim first, with the request API: no new requests, and the
      // shim's requests need the API that app.stop() takes down.
      void Promise.all([
        (http?.close() ?? Promise.resolve()).catch((e: unknown) => logger.warn({ err: e }, 'error while stopping the HTTP server')),
        (shim?.close() ?? Promise.resolve()).catch((e: unknown) => logger.warn({ err: e }, 'error while stopping the REST shim')),
      ])
        .then(() => app.stop((next) => (step = next)))
        .then(() => {
          step = 'embedded servers';
          return servers.stop();
        })
        .then(() => {
          const unhandled = guard.count();
          if (unhandled > 0) logger.warn({ unhandled }, `stopped after ${unhandled} unhandled failures (see the 'unhandled failure' lines)`);
          logger.info({ ms: Date.now() - stoppingSince }, 'stopped');
          finish(0);
        });
    };
    onSignal = stop;
    if (pendingSignal !== undefined) stop(pendingSignal);
  });
  process.stdout.write(`daqflow up: ${exitCode === 0 ? 'stopped' : 'stopped by force'}\n`);
  process.exit(exitCode);
};
