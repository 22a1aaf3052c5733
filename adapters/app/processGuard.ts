import type { Logger } from '../../actors/runtime/logger.js';

export interface ProcessGuard {
  /** Unhandled rejections and uncaught exceptions seen since install. */
  count(): number;
  uninstall(): void;
}

/**
 * The last line of defence of a long-running process: an unhandled promise rejection or an
 * uncaught exception (an 'error' event nobody listens to, say from a client whose server went
 * away) is logged with its stack and counted instead of ending the process and every job in it.
 * Each one is a bug to fix where it arose; the count and the log line (`unhandled failure`) make
 * them visible, and the fault tests assert there are none.
 */
export const installProcessGuard = (logger: Logger): ProcessGuard => {
  let count = 0;
  const onRejection = (reason: unknown): void => {
    count++;
    logger.error({ err: reason, guard: 'unhandledRejection', count }, 'unhandled failure: a promise rejection nobody handled');
  };
  const onException = (err: Error, origin: string): void => {
    count++;
    logger.error({ err, guard: origin, count }, 'unhandled failure: an exception nobody caught');
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return {
    count: () => count,
    uninstall() {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    },
  };
};
