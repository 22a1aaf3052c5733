import type { Logger } from '../../actors/runtime/logger.js';

/** What an outage log says about a server, for the log lines and for health answers. */
export interface OutageState {
  readonly available: boolean;
  /** When the current outage began (ms since the epoch), if there is one. */
  readonly downSince?: number;
  /** Outages seen since start. */
  readonly outages: number;
}

/**
 * Logs a server going away once per outage, naming the setting to check, and its return once,
 * with how long it was gone and how many failures were seen meanwhile. Callers report every
 * failure and success; only the changes are logged.
 */
export class OutageLog {
  private downSince: number | undefined;
  private failures = 0;
  private outages = 0;

  constructor(
    private readonly logger: Logger,
    /** The server as an operator names it, e.g. "PostgreSQL". */
    private readonly server: string,
    /** The setting that says where it is, e.g. "DAQFLOW_DATABASE_URL". */
    private readonly setting: string,
    /** What keeps working and what waits meanwhile, for the first log line. */
    private readonly meanwhile: string,
    private readonly now: () => number = Date.now,
  ) {}

  down(err: unknown): void {
    this.failures++;
    if (this.downSince !== undefined) return;
    this.downSince = this.now();
    this.outages++;
    this.logger.error(
      { err, server: this.server, check: this.setting },
      `${this.server} is not reachable: ${this.meanwhile}; it is retried until it is back (check ${this.setting})`,
    );
  }

  up(): void {
    if (this.downSince === undefined) return;
    const downMs = this.now() - this.downSince;
    this.logger.info(
      { server: this.server, downMs, failures: this.failures },
      `${this.server} is back after ${(downMs / 1000).toFixed(1)} s`,
    );
    this.downSince = undefined;
    this.failures = 0;
  }

  state(): OutageState {
    return this.downSince === undefined
      ? { available: true, outages: this.outages }
      : { available: false, downSince: this.downSince, outages: this.outages };
  }
}
