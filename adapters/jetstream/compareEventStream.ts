import type { StreamConfig } from '@nats-io/jetstream';
import type { StreamDifference } from './errors.js';

/**
 * Settings whose value daqflow leaves to the operator: replicas and placement belong to the
 * cluster, limits to the operator's retention policy. Each difference is reported, not changed.
 */
const operatorFields = [
  'num_replicas',
  'placement',
  'storage',
  'discard',
  'max_msgs',
  'max_bytes',
  'max_age',
  'max_msgs_per_subject',
  'max_msg_size',
  'max_consumers',
] as const;

const sameSubjects = (have: readonly string[] | undefined, want: readonly string[] | undefined): boolean =>
  JSON.stringify([...(have ?? [])].sort()) === JSON.stringify([...(want ?? [])].sort());

/**
 * How the stream `have` on the server differs from daqflow's `want`. Needed: its subjects
 * (appends and reads address them), limits retention (a work queue or interest stream deletes
 * the history daqflow folds), direct get (appends read an actor's head with it), and a
 * duplicate window at least as long as daqflow's (idempotent appends within it). The rest is
 * the operator's.
 */
export const compareEventStream = (have: Partial<StreamConfig>, want: StreamConfig): StreamDifference[] => {
  const differences: StreamDifference[] = [];
  if (!sameSubjects(have.subjects, want.subjects)) {
    differences.push({ field: 'subjects', have: have.subjects ?? [], want: want.subjects, needed: true });
  }
  if (have.retention !== want.retention) differences.push({ field: 'retention', have: have.retention, want: want.retention, needed: true });
  if (have.allow_direct !== true) differences.push({ field: 'allow_direct', have: have.allow_direct ?? false, want: true, needed: true });
  const window = have.duplicate_window ?? 0;
  if (window !== want.duplicate_window) {
    differences.push({ field: 'duplicate_window', have: window, want: want.duplicate_window, needed: window < (want.duplicate_window ?? 0) });
  }
  for (const field of operatorFields) {
    const a = have[field];
    const b = want[field];
    if (JSON.stringify(a ?? null) !== JSON.stringify(b ?? null)) differences.push({ field, have: a, want: b, needed: false });
  }
  return differences;
};

/**
 * The configuration `apply` sends: the operator's stream with daqflow's needed settings, and
 * the replicas only when they were asked for.
 */
export const appliedEventStream = (have: StreamConfig, want: StreamConfig, replicas?: number): StreamConfig => ({
  ...have,
  subjects: want.subjects,
  retention: want.retention,
  allow_direct: true,
  duplicate_window: Math.max(have.duplicate_window ?? 0, want.duplicate_window ?? 0),
  ...(replicas === undefined ? {} : { num_replicas: replicas }),
});
