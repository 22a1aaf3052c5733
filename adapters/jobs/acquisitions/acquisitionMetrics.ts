import { Counter, Gauge } from 'prom-client';
import type { EventEnvelope } from '../../../events/envelope.js';
import type { KindMetricsFactory } from '../../http/daqflowMetrics.js';

interface AcquisitionProgress {
  pulsesWritten: number;
  bytesWritten: number;
  missingPulses: number;
}

const numberOf = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? value : 0);

/** Pulses, bytes and missing pulses the acquisitions of this process wrote, and each one's lag. */
export const acquisitionMetrics: KindMetricsFactory = (registry) => {
  const acquisitionPulses = new Counter({
    name: 'daqflow_acquisition_written_pulses_total',
    help: 'Pulses acquisitions of this process wrote to their files.',
    registers: [registry],
  });
  const acquisitionBytes = new Counter({
    name: 'daqflow_acquisition_written_bytes_total',
    help: 'Bytes acquisitions of this process wrote to their files.',
    registers: [registry],
  });
  const acquisitionMissing = new Counter({
    name: 'daqflow_acquisition_missing_pulses_total',
    help: 'Pulses acquisitions of this process recorded as missing rows.',
    registers: [registry],
  });
  const acquisitionLag = new Gauge({
    name: 'daqflow_acquisition_lag_pulses',
    help: 'How many pulses each unfinished acquisition is behind the newest pulse received, by acquisition id.',
    labelNames: ['id'],
    registers: [registry],
  });
  const acquisitions = new Map<string, AcquisitionProgress>();
  return {
    appended: (event: EventEnvelope): void => {
      const summary = event.summary as Record<string, unknown>;
      const now: AcquisitionProgress = {
        pulsesWritten: numberOf(summary.pulsesWritten),
        bytesWritten: numberOf(summary.bytesWritten),
        missingPulses: numberOf(summary.missingPulses),
      };
      // An acquisition first seen after a restart counts from where it was, not from 0.
      const before = acquisitions.get(event.actorId) ?? (event.version === 1 ? { pulsesWritten: 0, bytesWritten: 0, missingPulses: 0 } : now);
      if (now.pulsesWritten > before.pulsesWritten) acquisitionPulses.inc(now.pulsesWritten - before.pulsesWritten);
      if (now.bytesWritten > before.bytesWritten) acquisitionBytes.inc(now.bytesWritten - before.bytesWritten);
      if (now.missingPulses > before.missingPulses) acquisitionMissing.inc(now.missingPulses - before.missingPulses);
      if (event.final) {
        acquisitions.delete(event.actorId);
        acquisitionLag.remove({ id: event.actorId });
      } else {
        acquisitions.set(event.actorId, now);
        acquisitionLag.set({ id: event.actorId }, numberOf(summary.lagPulses));
      }
    },
  };
};
