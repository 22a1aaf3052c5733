import { sql } from 'kysely';
import { Gauge } from 'prom-client';
import { QUERY_TIMEOUT_MS, type KindMetricsFactory } from '../../http/daqflowMetrics.js';
import { withTimeout } from '../../withTimeout.js';

/** The jobs of report jobs by runner and state, read from the status rows at scrape time. */
export const reportMetrics: KindMetricsFactory = (registry, sourcesOf) => {
  new Gauge({
    name: 'daqflow_report_jobs',
    help: 'Jobs of report jobs, by runner and job state (absent while PostgreSQL is away).',
    labelNames: ['runner', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      const sources = sourcesOf();
      if (!sources) return;
      const rows = await withTimeout(
        sql<{ runner: string | null; state: string | null; count: string }>`
          select s.summary->>'runner' as runner, j->>'state' as state, count(*) as count
          from actor_status s, jsonb_array_elements(coalesce(s.summary->'jobs', '[]'::jsonb)) j
          where s.kind = 'report'
          group by 1, 2`.execute(sources.db),
        QUERY_TIMEOUT_MS,
      ).catch(() => ({ rows: [] }));
      for (const row of rows.rows) this.set({ runner: row.runner ?? 'unknown', state: row.state ?? 'unknown' }, Number(row.count));
    },
  });
  return {};
};
