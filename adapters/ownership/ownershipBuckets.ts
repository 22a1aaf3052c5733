import type { KvEntry } from '@nats-io/kv';

/**
 * The KV buckets of the ownership leases, named after the event stream so that stores sharing a
 * server (tests, several facilities) keep their leases apart.
 */
export const ownershipBuckets = (stream: string): { readonly processes: string; readonly owners: string } => ({
  processes: `${stream}-processes`,
  owners: `${stream}-owners`,
});

/** What an owners-bucket entry holds: the owning process and its node. */
export interface OwnerValue {
  readonly process: string;
  readonly node: string;
}

/** An actor's key in the owners bucket. */
export const actorKey = (kind: string, id: string): string => `a.${kind}.${id}`;

const decoder = new TextDecoder();

/** An entry's JSON value; undefined when it is not JSON (not written by daqflow). */
export const parseEntry = <T>(value: Uint8Array): T | undefined => {
  try {
    return JSON.parse(decoder.decode(value)) as T;
  } catch {
    return undefined;
  }
};

/** The owner an owners-bucket entry names; undefined for none, a deletion or an unreadable value. */
export const ownerIn = (entry: KvEntry | null | undefined): OwnerValue | undefined =>
  entry && entry.operation === 'PUT' ? parseEntry<OwnerValue>(entry.value) : undefined;
