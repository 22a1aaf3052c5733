import { sql, type Kysely } from 'kysely';
import type { OutageLog } from '../app/outageLog.js';

export interface DatabaseWatch {
  /** A query failed because the server is away: probe often until it answers again. */
  failed(err: unknown): void;
  stop(): void;
}

/**
 * Probes PostgreSQL with `select 1` (every `intervalMs`, every second while it is away) and
 * tells `outage` when it goes and comes back, so that an outage is noticed and logged once even
 * while nothing else queries, and its end is logged as soon as it answers.
 */
export const watchDatabase = <DB>(db: Kysely<DB>, outage: OutageLog, intervalMs = 5_000): DatabaseWatch => {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let probing = false;
  const schedule = (ms: number): void => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => void probe(), ms);
    // A probe never keeps the process alive on its own.
    timer.unref();
  };
  const probe = async (): Promise<void> => {
    if (probing || stopped) return;
    probing = true;
    try {
      await sql`select 1`.execute(db);
      outage.up();
    } catch (err) {
      outage.down(err);
    } finally {
      probing = false;
      schedule(outage.state().available ? intervalMs : 1_000);
    }
  };
  schedule(intervalMs);
  return {
    failed(err) {
      outage.down(err);
      schedule(1_000);
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
};
