import { Worker } from 'node:worker_threads';
import type { Projector, ProjectorLogger } from '../../projections/projector.js';
import type { FromProjectorThread, ProjectorThreadData, ToProjectorThread } from './projectorThreadProtocol.js';

const ENTRY = new URL('./projectorWorker.entry.mjs', import.meta.url);

/** Pause before a thread that ended is started again. */
const RESTART_MS = 1_000;

/** How long a stop waits for the thread to finish its batch and close before it is terminated. */
const STOP_MS = 3_000;

/**
 * The live projector on a worker thread of its own, with its own NATS connection and PostgreSQL
 * pool: its batches then never wait behind the runtime's work on this event loop, which under
 * job traffic made every database round trip of a batch slow. The same `Projector` as
 * `startProjector` gives; a thread that dies is started again.
 */
export const startProjectorThread = (data: ProjectorThreadData, logger: ProjectorLogger): Projector => {
  let known = 0;
  let stopping = false;
  let nextId = 1;
  const waiters = new Map<number, { position: number; resolve: () => void; reject: (e: Error) => void }>();
  let worker: Worker;
  let alive = false;
  let stopped: (() => void) | undefined;

  const send = (message: ToProjectorThread): void => worker.postMessage(message);

  const onMessage = (message: FromProjectorThread): void => {
    switch (message.op) {
      case 'position':
        known = Math.max(known, message.position);
        break;
      case 'reached': {
        const waiter = waiters.get(message.id);
        if (waiter) {
          waiters.delete(message.id);
          known = Math.max(known, waiter.position);
          waiter.resolve();
        }
        break;
      }
      case 'log':
        (logger[message.level] ?? logger.info).call(logger, message.obj, message.msg);
        break;
      case 'stopped':
        stopped?.();
        break;
    }
  };

  const start = (): void => {
    worker = new Worker(ENTRY, { workerData: data, execArgv: [] });
    alive = true;
    worker.on('message', onMessage);
    worker.on('error', (err) => logger.error({ err }, 'the projector thread failed'));
    worker.on('exit', (code) => {
      alive = false;
      stopped?.();
      if (stopping) return;
      logger.error({ code }, `the projector thread ended; starting it again in ${RESTART_MS} ms`);
      // Not at once: a thread that cannot even connect would otherwise be restarted in a loop.
      setTimeout(() => {
        if (stopping) return;
        start();
        // Waiters asked the old thread; the new one is asked again.
        for (const [id, waiter] of waiters) send({ op: 'caughtUp', id, position: waiter.position });
      }, RESTART_MS).unref();
    });
  };
  start();

  return {
    async stop() {
      if (!stopping) {
        stopping = true;
        const done = alive ? new Promise<void>((resolve) => (stopped = resolve)) : Promise.resolve();
        if (alive) send({ op: 'stop' });
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([done, new Promise((resolve) => (timer = setTimeout(resolve, STOP_MS)))]);
        clearTimeout(timer);
        await worker.terminate();
      }
      for (const waiter of waiters.values()) waiter.reject(new Error(`the projector thread stopped at ${known}`));
      waiters.clear();
    },
    caughtUp(position) {
      if (known >= position) return Promise.resolve();
      if (stopping) return Promise.reject(new Error(`the projector thread stopped at ${known}`));
      return new Promise((resolve, reject) => {
        const id = nextId++;
        waiters.set(id, { position, resolve, reject });
        send({ op: 'caughtUp', id, position });
      });
    },
    position: () => known,
  };
};
