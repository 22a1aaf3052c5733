import type { JetStreamManager } from '@nats-io/jetstream';

/**
 * The keys a KV bucket holds (deleted ones included: their markers are messages too), read from
 * its stream's subject counts in one request. The KV client's `keys()` runs a consumer that
 * waits for as many messages as were pending when it began; an entry expiring meanwhile (a
 * presence bucket's whole point) leaves it waiting for ever.
 */
export const listKeys = async (jsm: JetStreamManager, bucket: string, filter = '>'): Promise<string[]> => {
  const prefix = `$KV.${bucket}.`;
  const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}${filter}` });
  return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length));
};
