import type { RecordedEvent } from '../../events/envelope.js';
import type { FakeArchiverServer } from '../fakes/archiverApplianceServer.js';

/**
 * Chunk requests the Archiver Appliance fake received after the chunk was on record (its
 * `chunkWritten` appended): work repeated. A request made again while the chunk was in flight (its
 * owner killed, or fenced when its renewals stalled) is not one of them. Each as
 * "PV from to asked at …, written at …".
 */
export const chunkRequestsAfterWritten = (events: readonly RecordedEvent[], archiver: FakeArchiverServer): string[] => {
  const writtenAt = new Map<string, number>();
  for (const e of events) {
    if (e.type !== 'chunkWritten') continue;
    const data = e.data as { parameter: string; from: string; to: string };
    writtenAt.set(`${data.parameter} ${new Date(data.from).toISOString()} ${new Date(data.to).toISOString()}`, Date.parse(e.time));
  }
  const arrivals = archiver.arrivals();
  return archiver.requests().flatMap((r, i) => {
    const key = `${r.pv} ${r.from} ${r.to}`;
    const at = arrivals[i] ?? 0;
    const written = writtenAt.get(key);
    return written !== undefined && at > written ? [`${key} asked at ${new Date(at).toISOString()}, written at ${new Date(written).toISOString()}`] : [];
  });
};
