/**
 * The run's single-node Slurm for the report specs: the one the global setup started (shared by
 * every spec file that uses it), else started here (idempotent: a running one is reused) and
 * stopped after the file only if this file started it. Where Slurm cannot run, `cluster()`
 * throws the reason, so every test that needs it fails saying why (no skip).
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, inject } from 'vitest';
import { startSlurmCluster, type SlurmCluster } from './slurmCluster.js';

export interface SharedSlurmCluster {
  readonly slurmConf: string;
  readonly dir: string;
}

export const useSharedSlurm = (): { cluster(): SharedSlurmCluster; cancelJobsNamed(prefix: string): void } => {
  let shared: SharedSlurmCluster | undefined;
  let ownCluster: SlurmCluster | undefined;
  let reason = 'the Slurm cluster exists only in hooks and tests, after beforeAll';
  beforeAll(async () => {
    const provided = inject('slurm');
    if (provided.ok) {
      shared = { slurmConf: provided.slurmConf, dir: provided.dir };
      return;
    }
    const started = await startSlurmCluster();
    if (!started.ok) {
      reason = `${started.reason} (global setup: ${provided.reason})`;
      return;
    }
    ownCluster = started.cluster;
    shared = { slurmConf: started.cluster.slurmConf, dir: started.cluster.dir };
  }, 120_000);
  afterAll(async () => {
    await ownCluster?.release();
  });
  return {
    cluster: () => {
      if (!shared) throw new Error(reason);
      return shared;
    },
    /** scancels every job of the cluster whose name starts with `prefix` (what a failed test left). */
    cancelJobsNamed: (prefix) => {
      if (!shared) return;
      const env = { ...process.env, SLURM_CONF: shared.slurmConf };
      const listed = execFileSync('/usr/bin/squeue', ['-h', '-o', '%i %j'], { env, encoding: 'utf8' });
      const ids = listed
        .split('\n')
        .map((line) => line.trim().split(' '))
        .filter(([id, name]) => id && name?.startsWith(prefix))
        .map(([id]) => id ?? '');
      if (ids.length > 0) execFileSync('/usr/bin/scancel', ids, { env });
    },
  };
};
