import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type RunningPostgres } from '../adapters/embedded/embeddedPostgres.js';
import { startNatsServer, type RunningNatsServer } from '../adapters/embedded/natsServer.js';
import { canConnect } from '../adapters/postgres/canConnect.js';
import { startSlurmCluster, type SlurmCluster } from './harness/slurmCluster.js';

/** The run's single-node Slurm, as the spec files see it (`inject('slurm')`). */
export type SharedSlurm =
  | { readonly ok: true; readonly slurmConf: string; readonly dir: string }
  | { readonly ok: false; readonly reason: string };

declare module 'vitest' {
  export interface ProvidedContext {
    natsUrl: string;
    pgAdminUrl: string;
    slurm: SharedSlurm;
  }
}

// A spec file that uses the single-node Slurm says so with one of these.
const USES_SLURM = /startSlurmCluster|useSharedSlurm|inject\(\s*['"]slurm['"]\s*\)/;

/** True when a spec file of this run uses Slurm (the run's file filters applied, as vitest applies them). */
const runUsesSlurm = async (project: TestProject): Promise<boolean> => {
  // vitest keeps the command line's file filters here (not in its public types).
  const filters = (project.vitest as unknown as { filenamePattern?: string[] }).filenamePattern;
  const { testFiles } = await project.globTestFiles(filters ?? []);
  return testFiles.some((file) => {
    try {
      return USES_SLURM.test(readFileSync(file, 'utf8'));
    } catch {
      return false;
    }
  });
};

/**
 * Starts the servers once per run: a nats-server child of our own (so no spec sees another's
 * streams), and PostgreSQL: $DAQFLOW_TEST_PG_URL, else the machine's server on 127.0.0.1:5432,
 * else an embedded one. Each spec file makes its own database and stream from these.
 *
 * When a spec file of the run uses Slurm, the single-node Slurm too (scripts/slurm-test-cluster.sh,
 * idempotent: a cluster already running is reused), so that every such spec shares one; it is
 * stopped at the end only when this run started it. Where it cannot run, `slurm` says why and
 * the specs that need it fail with that reason.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const scratch = mkdtempSync(join(tmpdir(), 'daqflow-test-'));
  const usesSlurm = await runUsesSlurm(project);
  // Slurm starts while the other servers do: its daemons take a few seconds to become idle.
  const slurmStarting = usesSlurm ? startSlurmCluster() : undefined;
  let nats: RunningNatsServer | undefined;
  let postgres: RunningPostgres | undefined;
  let pgAdminUrl = process.env.DAQFLOW_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  let slurmCluster: SlurmCluster | undefined;
  let slurm: SharedSlurm = { ok: false, reason: 'no spec file of this run uses Slurm, so the global setup did not start it' };
  try {
    nats = await startNatsServer({
      storeDir: join(scratch, 'nats'),
      logFile: join(scratch, 'nats.log'),
    });
    if (!(await canConnect(pgAdminUrl))) {
      postgres = await startEmbeddedPostgres(join(scratch, 'pg'));
      pgAdminUrl = postgres.url;
    }
    const started = await slurmStarting;
    if (started?.ok) {
      slurmCluster = started.cluster;
      slurm = { ok: true, slurmConf: started.cluster.slurmConf, dir: started.cluster.dir };
    } else if (started) {
      slurm = { ok: false, reason: started.reason };
    }
  } catch (e) {
    // Nothing of this run may outlive a setup that failed half-way.
    await nats?.stop().catch(() => undefined);
    await postgres?.stop().catch(() => undefined);
    const started = await slurmStarting?.catch(() => undefined);
    if (started?.ok) await started.cluster.release().catch(() => undefined);
    throw e;
  }
  const runningNats = nats;
  project.provide('natsUrl', runningNats.url);
  project.provide('pgAdminUrl', pgAdminUrl);
  project.provide('slurm', slurm);
  return async () => {
    await runningNats.stop();
    await postgres?.stop();
    // Only if this run started it (release() knows), and never while DAQFLOW_TEST_SLURM_KEEP=1.
    await slurmCluster?.release();
    rmSync(scratch, { recursive: true, force: true });
  };
}
