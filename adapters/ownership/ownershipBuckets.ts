/**
 * The KV buckets of the ownership leases, named after the event stream so that stores sharing a
 * server (tests, several facilities) keep their leases apart.
 */
export const ownershipBuckets = (stream: string): { readonly processes: string; readonly owners: string } => ({
  processes: `${stream}-processes`,
  owners: `${stream}-owners`,
});
