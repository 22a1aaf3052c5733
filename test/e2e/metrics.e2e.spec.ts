import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, showResult, startDaqflowProcess, type DaqflowProcess } from '../harness/daqflowProcess.js';
import { httpUrlOf, sampleSum, scrapeMetrics, type Scrape } from '../harness/httpEndpoints.js';
import { useE2eEnvironments, waitFor } from './e2eHelpers.js';

const e2e = useE2eEnvironments('metrics');
let env: Record<string, string>;
let daqflow: DaqflowProcess;
let url: string;

beforeAll(async () => {
  ({ env } = await e2e.create());
  env = { ...env, DAQFLOW_HTTP: '127.0.0.1:0' };
  daqflow = await startDaqflowProcess({ env });
  url = httpUrlOf(daqflow);
});

afterAll(() => daqflow?.kill('SIGKILL'));

/** Every metric the operator's dashboards rely on, with its Prometheus type. */
const expected: ReadonlyArray<readonly [string, string]> = [
  ['daqflow_http_requests_total', 'COUNTER'],
  ['daqflow_http_request_duration_seconds', 'HISTOGRAM'],
  ['daqflow_events_appended_total', 'COUNTER'],
  ['daqflow_effect_runs_total', 'COUNTER'],
  ['daqflow_effect_failures_total', 'COUNTER'],
  ['daqflow_actors', 'GAUGE'],
  ['daqflow_stream_position', 'GAUGE'],
  ['daqflow_projector_checkpoint', 'GAUGE'],
  ['daqflow_projector_lag_events', 'GAUGE'],
  ['daqflow_projector_batch_duration_seconds', 'HISTOGRAM'],
  ['daqflow_projector_events_applied_total', 'COUNTER'],
  ['daqflow_ring_buffer_received_total', 'COUNTER'],
  ['daqflow_ring_buffer_malformed_total', 'COUNTER'],
  ['daqflow_ring_buffer_pulse_id_gaps_total', 'COUNTER'],
  ['daqflow_ring_buffer_dropped_total', 'COUNTER'],
  ['daqflow_ring_buffer_messages', 'GAUGE'],
  ['daqflow_ring_buffer_oldest_pulse_id', 'GAUGE'],
  ['daqflow_ring_buffer_newest_pulse_id', 'GAUGE'],
  ['daqflow_bsread_received_messages_total', 'COUNTER'],
  ['daqflow_bsread_malformed_messages_total', 'COUNTER'],
  ['daqflow_acquisition_written_pulses_total', 'COUNTER'],
  ['daqflow_acquisition_written_bytes_total', 'COUNTER'],
  ['daqflow_acquisition_lag_pulses', 'GAUGE'],
  ['daqflow_grab_samples_fetched_total', 'COUNTER'],
  ['daqflow_grab_source_errors_total', 'COUNTER'],
  ['daqflow_report_jobs', 'GAUGE'],
  ['nodejs_eventloop_lag_seconds', 'GAUGE'],
  ['nodejs_heap_size_used_bytes', 'GAUGE'],
];

describe('/metrics of daqflow up', () => {
  it('has every metric, in the Prometheus text format, and its counters rise with the demo; the projector lag returns to 0', async () => {
    const before = await scrapeMetrics(url);
    for (const [name, type] of expected) {
      expect(before.get(name), `${name} is missing from /metrics`).toBeDefined();
      expect(before.get(name)?.type, name).toBe(type);
    }
    // The demo runs a job of each kind: demo, acquisition, grab, report.
    const demo = await runCli(['demo', '--steps', '3', '--interval-ms', '100'], env, 240_000);
    expect(demo.code, showResult(['demo'], demo)).toBe(0);
    const after = await waitFor(
      'the projector lag to fall back to 0',
      async () => {
        const scrape = await scrapeMetrics(url);
        return sampleSum(scrape, 'daqflow_projector_lag_events') === 0 && sampleSum(scrape, 'daqflow_stream_position') > 0 ? scrape : undefined;
      },
      60_000,
      250,
    );
    const rose = (scrape: Scrape, name: string, labels: Record<string, string> = {}): number =>
      sampleSum(scrape, name, labels) - sampleSum(before, name, labels);
    for (const kind of ['demo', 'acquisition', 'grab', 'report']) {
      expect(rose(after, 'daqflow_events_appended_total', { kind }), `events appended of ${kind}`).toBeGreaterThan(0);
      expect(rose(after, 'daqflow_effect_runs_total', { kind }), `effect runs of ${kind}`).toBeGreaterThan(0);
      expect(sampleSum(after, 'daqflow_actors', { kind, state: 'completed' }), `completed ${kind} actors`).toBe(1);
    }
    expect(rose(after, 'daqflow_projector_events_applied_total')).toBe(sampleSum(after, 'daqflow_stream_position'));
    expect(sampleSum(after, 'daqflow_projector_checkpoint')).toBe(sampleSum(after, 'daqflow_stream_position'));
    expect(rose(after, 'daqflow_projector_batch_duration_seconds')).toBeGreaterThan(0);
    expect(rose(after, 'daqflow_acquisition_written_pulses_total')).toBeGreaterThan(0);
    expect(rose(after, 'daqflow_acquisition_written_bytes_total')).toBeGreaterThan(0);
    expect(rose(after, 'daqflow_grab_samples_fetched_total')).toBeGreaterThan(0);
    expect(rose(after, 'daqflow_ring_buffer_received_total')).toBeGreaterThan(0);
    expect(rose(after, 'daqflow_bsread_received_messages_total')).toBeGreaterThan(0);
    expect(sampleSum(after, 'daqflow_report_jobs', { state: 'completed' })).toBeGreaterThan(0);
    // Each scrape is itself a request: the counter of /metrics rose by the scrapes made.
    expect(rose(after, 'daqflow_http_requests_total', { route: '/metrics', status: '200' })).toBeGreaterThan(0);
    expect(after.get('daqflow_bsread_malformed_messages_total')?.metrics.map((m) => m.labels?.reason).sort()).toEqual(
      expect.arrayContaining(['DATA_HEADER', 'MAIN_HEADER', 'PART_COUNT']),
    );
  }, 300_000);
});
