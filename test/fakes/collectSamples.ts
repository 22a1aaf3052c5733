/** Test helper: drains a data-logger source's stream into plain arrays. */
import type { DataLoggerSource, SampleBatch } from '../../adapters/dataLogger/dataLoggerSource.js';

export interface Collected {
  times: number[];
  values: number[];
  units: string | undefined;
  batches: SampleBatch[];
}

export async function collectSamples(
  source: DataLoggerSource,
  parameter: string,
  from: Date,
  to: Date,
  signal?: AbortSignal,
): Promise<Collected> {
  const out: Collected = { times: [], values: [], units: undefined, batches: [] };
  for await (const batch of source.fetchSamples(parameter, from, to, signal)) {
    out.batches.push(batch);
    out.units = batch.units ?? out.units;
    for (let i = 0; i < batch.times.length; i++) {
      out.times.push(batch.times[i]!);
      out.values.push(batch.values[i]!);
    }
  }
  return out;
}
