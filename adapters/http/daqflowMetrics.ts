import type { Kysely } from 'kysely';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EffectHandlers } from '../../actors/runtime/actorDefinition.js';
import type { EventEnvelope } from '../../events/envelope.js';
import type { EventStore } from '../../events/eventStore.js';
import type { Database } from '../../projections/database.js';
import type { BatchReport, Projector } from '../../projections/projector.js';
import type { BsreadSource } from '../bsread/bsreadSource.js';
import { withTimeout } from '../withTimeout.js';

/** What the collectors read at scrape time; bound once the parts exist. */
export interface MetricSources {
  readonly db: Kysely<Database>;
  readonly store: EventStore;
  readonly projector: Projector;
  readonly bsread: BsreadSource;
}

/** daqflow's Prometheus registry and the hooks that feed it. */
export interface DaqflowMetrics {
  readonly registry: Registry;
  /** One HTTP request answered; `route` is the route pattern, never the raw URL (bounded labels). */
  httpRequest(route: string, method: string, status: number, seconds: number): void;
  /** An event this process appended. */
  appended(event: EventEnvelope): void;
  projectorBatch(report: BatchReport): void;
  /** Wraps effect handlers so that each run and each failure is counted by kind and effect. */
  instrumentEffects(kind: string, handlers: EffectHandlers): EffectHandlers;
  bind(sources: MetricSources): void;
  /** The projector's distance behind the stream (stream position minus checkpoint). */
  projectorLag(): Promise<number>;
}



/** A counter that mirrors a cumulative count kept elsewhere: it rises by what that count rose since the last scrape. */
const mirrored = (registry: Registry, name: string, help: string, labelNames: string[] = []) => {
  const counter = new Counter({ name, help, labelNames, registers: [registry] });
  const last = new Map<string, number>();
  return (value: number, labels: Record<string, string> = {}): void => {
    const key = JSON.stringify(labels);
    const before = last.get(key);
    const delta = value - (before ?? 0);
    last.set(key, value);
    if (delta > 0) counter.inc(labels, delta);
    // A series exists from the first scrape on, at 0, so that rate() and alerts see it.
    else if (before === undefined) counter.inc(labels, 0);
    // A count that went back (a new source) starts again from its new value.
    else if (delta < 0) last.set(key, value);
  };
};

/** A kind's own metrics: registered in the registry it is given, fed with the events of its kind. */
export interface KindMetrics {
  appended?(event: EventEnvelope): void;
}

/** Registers a kind's metrics; `sources` are undefined until bound. */
export type KindMetricsFactory = (registry: Registry, sources: () => MetricSources | undefined) => KindMetrics;

/** A gauge collector's PostgreSQL query must not hold a scrape for long while it is away. */
export const QUERY_TIMEOUT_MS = 1_000;

export const createDaqflowMetrics = (options: { kinds?: Readonly<Record<string, KindMetricsFactory>> } = {}): DaqflowMetrics => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
  let sources: MetricSources | undefined;

  const requests = new Counter({
    name: 'daqflow_http_requests_total',
    help: 'HTTP requests answered, by route, method and status.',
    labelNames: ['route', 'method', 'status'],
    registers: [registry],
  });
  const requestSeconds = new Histogram({
    name: 'daqflow_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by route, method and status.',
    labelNames: ['route', 'method', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const appended = new Counter({
    name: 'daqflow_events_appended_total',
    help: 'Events this process appended to the event stream, by actor kind and event type.',
    labelNames: ['kind', 'type'],
    registers: [registry],
  });
  const effectRuns = new Counter({
    name: 'daqflow_effect_runs_total',
    help: 'Effects started, by actor kind and effect.',
    labelNames: ['kind', 'effect'],
    registers: [registry],
  });
  const effectFailures = new Counter({
    name: 'daqflow_effect_failures_total',
    help: 'Effects that threw (recorded as effectFailed), by actor kind and effect.',
    labelNames: ['kind', 'effect'],
    registers: [registry],
  });
  const batchSeconds = new Histogram({
    name: 'daqflow_projector_batch_duration_seconds',
    help: 'Time the projector took for one batch (one transaction).',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const projected = new Counter({
    name: 'daqflow_projector_events_applied_total',
    help: 'Events the projector applied to the projection tables.',
    registers: [registry],
  });
  // Each kind's own metrics, fed by the events of its kind this process appends.
  const kindMetrics = new Map(
    Object.entries(options.kinds ?? {}).map(([kind, create]) => [kind, create(registry, () => sources)]),
  );

  // What the stream and the projector say, read at scrape time.
  const lagOf = async (): Promise<{ last: number; checkpoint: number }> => {
    if (!sources) return { last: 0, checkpoint: 0 };
    const last = await withTimeout(sources.store.lastPosition(), QUERY_TIMEOUT_MS);
    return { last, checkpoint: sources.projector.position() };
  };
  new Gauge({
    name: 'daqflow_stream_position',
    help: 'Position of the newest event in the event stream.',
    registers: [registry],
    async collect() {
      this.set((await lagOf().catch(() => ({ last: NaN }))).last);
    },
  });
  new Gauge({
    name: 'daqflow_projector_checkpoint',
    help: 'Position of the last event the projector applied.',
    registers: [registry],
    collect() {
      if (sources) this.set(sources.projector.position());
    },
  });
  const projectorLag = async (): Promise<number> => {
    const { last, checkpoint } = await lagOf();
    return Math.max(0, last - checkpoint);
  };
  new Gauge({
    name: 'daqflow_projector_lag_events',
    help: 'Events in the stream the projector has not applied yet (stream position minus checkpoint); NaN when NATS does not answer.',
    registers: [registry],
    async collect() {
      this.set(await projectorLag().catch(() => NaN));
    },
  });
  new Gauge({
    name: 'daqflow_actors',
    help: 'Actors in the projection, by kind and state (absent while PostgreSQL is away).',
    labelNames: ['kind', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      if (!sources) return;
      const db = sources.db;
      const rows = await withTimeout(
        db.selectFrom('actor_status').select(['kind', 'state', (eb) => eb.fn.countAll<number>().as('count')]).groupBy(['kind', 'state']).execute(),
        QUERY_TIMEOUT_MS,
      ).catch(() => []);
      for (const row of rows) this.set({ kind: row.kind, state: row.state }, Number(row.count));
    },
  });

  // The ring buffer's and the receiver's own counters, read at scrape time.
  const ring = {
    received: mirrored(registry, 'daqflow_ring_buffer_received_total', 'Messages handed to the ring buffer.'),
    dropped: mirrored(registry, 'daqflow_ring_buffer_dropped_total', 'Messages evicted as the oldest to keep the ring buffer within its bounds.'),
    malformed: mirrored(registry, 'daqflow_ring_buffer_malformed_total', 'Messages the receiver could not decode.'),
    gaps: mirrored(registry, 'daqflow_ring_buffer_pulse_id_gaps_total', 'Pulse ids missing between consecutive stored messages.'),
    duplicates: mirrored(registry, 'daqflow_ring_buffer_duplicates_total', 'Messages dropped because their pulse id was already stored.'),
    outOfOrder: mirrored(registry, 'daqflow_ring_buffer_out_of_order_total', 'Messages dropped because their pulse id was below the newest and not held.'),
    readerLost: mirrored(registry, 'daqflow_ring_buffer_reader_lost_pulses_total', 'Pulses evicted before a reader had read them.'),
  };
  const bsreadReceived = mirrored(registry, 'daqflow_bsread_received_messages_total', 'bsread messages read from the stream (rate() of it is the receive rate).');
  const bsreadBytes = mirrored(registry, 'daqflow_bsread_received_bytes_total', 'Bytes of the bsread messages read from the stream.');
  const bsreadMalformed = mirrored(registry, 'daqflow_bsread_malformed_messages_total', 'bsread messages skipped because they did not decode, by reason.', ['reason']);
  const bsreadMissing = mirrored(registry, 'daqflow_bsread_missing_pulses_total', 'Pulse ids skipped between consecutive bsread messages.');
  const ringNow = new Gauge({
    name: 'daqflow_ring_buffer_messages',
    help: 'Messages the ring buffer holds now.',
    registers: [registry],
  });
  const ringBytes = new Gauge({ name: 'daqflow_ring_buffer_bytes', help: 'Wire bytes the ring buffer holds now.', registers: [registry] });
  const ringOldest = new Gauge({ name: 'daqflow_ring_buffer_oldest_pulse_id', help: 'Pulse id of the oldest message held (NaN when empty).', registers: [registry] });
  new Gauge({
    name: 'daqflow_ring_buffer_newest_pulse_id',
    help: 'Pulse id of the newest message held (NaN when empty).',
    registers: [registry],
    // One collector reads the counters once for every ring buffer and bsread metric.
    collect() {
      if (!sources) return;
      const { buffer, receiver } = sources.bsread.counters();
      ring.received(buffer.received);
      ring.dropped(buffer.droppedOldest);
      ring.malformed(buffer.malformed);
      ring.gaps(buffer.pulseIdGaps);
      ring.duplicates(buffer.duplicates);
      ring.outOfOrder(buffer.outOfOrder);
      ring.readerLost(buffer.readerLostPulses);
      ringNow.set(buffer.messages);
      ringBytes.set(buffer.bytes);
      ringOldest.set(buffer.oldestPulseId ?? NaN);
      this.set(buffer.newestPulseId ?? NaN);
      bsreadReceived(receiver.received);
      bsreadBytes(receiver.bytes);
      bsreadMissing(receiver.missingPulses);
      for (const [reason, count] of Object.entries(receiver.byReason)) bsreadMalformed(count, { reason });
    },
  });

  return {
    registry,
    httpRequest: (route, method, status, seconds) => {
      const labels = { route, method, status: String(status) };
      requests.inc(labels);
      requestSeconds.observe(labels, seconds);
    },
    appended: (event) => {
      appended.inc({ kind: event.actorKind, type: event.type });
      kindMetrics.get(event.actorKind)?.appended?.(event);
    },
    projectorBatch: (report) => {
      batchSeconds.observe(report.ms / 1_000);
      projected.inc(report.applied);
    },
    instrumentEffects: (kind, handlers) =>
      Object.fromEntries(
        Object.entries(handlers).map(([effect, handler]) => [
          effect,
          async (params: never, context: Parameters<typeof handler>[1]) => {
            effectRuns.inc({ kind, effect });
            try {
              return await handler(params, context);
            } catch (e) {
              effectFailures.inc({ kind, effect });
              throw e;
            }
          },
        ]),
      ),
    bind: (bound) => {
      sources = bound;
    },
    projectorLag,
  };
};
