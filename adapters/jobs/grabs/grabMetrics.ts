import { Counter } from 'prom-client';
import type { EventEnvelope } from '../../../events/envelope.js';
import type { KindMetricsFactory } from '../../http/daqflowMetrics.js';

const numberOf = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? value : 0);

/** Samples the grab runs of this process fetched, and the chunks that failed to fetch. */
export const grabMetrics: KindMetricsFactory = (registry) => {
  const grabSamples = new Counter({
    name: 'daqflow_grab_samples_fetched_total',
    help: 'Samples grab runs of this process fetched from the data logger.',
    registers: [registry],
  });
  const grabSourceErrors = new Counter({
    name: 'daqflow_grab_source_errors_total',
    help: 'Grab chunks that failed to fetch from the data logger (each attempt counts).',
    registers: [registry],
  });
  const grabSamplesSeen = new Map<string, number>();
  return {
    appended: (event: EventEnvelope): void => {
      if (event.type === 'chunkFailed') grabSourceErrors.inc();
      const progress = (event.summary as { progress?: { samples?: unknown } }).progress;
      const samples = numberOf(progress?.samples);
      const before = grabSamplesSeen.get(event.actorId) ?? (event.version === 1 ? 0 : samples);
      if (samples > before) grabSamples.inc(samples - before);
      if (event.final) grabSamplesSeen.delete(event.actorId);
      else grabSamplesSeen.set(event.actorId, samples);
    },
  };
};
