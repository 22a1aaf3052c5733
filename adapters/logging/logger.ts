import pino, { type Logger as PinoLogger } from 'pino';

/**
 * The root logger: JSON lines (one per transition, among others) on stderr, so stdout stays
 * free for command output; pretty, coloured lines when stderr is a terminal.
 */
export const createLogger = (level: string, options: { pretty?: boolean } = {}): PinoLogger => {
  const pretty = options.pretty ?? process.stderr.isTTY === true;
  if (pretty) {
    return pino({
      level,
      transport: {
        target: 'pino-pretty',
        options: { destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' },
      },
    });
  }
  // Synchronous writes: the lines just before a crash are the ones worth having.
  return pino({ level, base: undefined }, pino.destination({ dest: 2, sync: true }));
};
