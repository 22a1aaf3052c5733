/**
 * The real single-node Slurm of the tests, started by scripts/slurm-test-cluster.sh (munged,
 * slurmctld and slurmd under one folder, loopback, ports 16817/16818). Idempotent: a cluster
 * already running in the folder is reused, and only the caller that started it stops it.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../../scripts/slurm-test-cluster.sh', import.meta.url));

export interface SlurmCluster {
  readonly dir: string;
  readonly slurmConf: string;
  /** The environment the Slurm commands need to find this cluster: `SLURM_CONF`. */
  readonly env: Readonly<Record<string, string>>;
  /** True when this call started slurmctld (false: it was running already). */
  readonly startedHere: boolean;
  /**
   * Stops the daemons if this call started them, unless DAQFLOW_TEST_SLURM_KEEP=1. One spec file
   * uses the cluster today; when several do at once, start it in the global setup instead.
   */
  release(): Promise<void>;
}

export type SlurmClusterStart = { readonly ok: true; readonly cluster: SlurmCluster } | { readonly ok: false; readonly reason: string };

export interface SlurmClusterOptions {
  /** Default $DAQFLOW_TEST_SLURM_DIR, else /tmp/daqflow-slurm-test. */
  readonly dir?: string;
  /** slurmctld's port; slurmd takes the next. Default $DAQFLOW_TEST_SLURM_PORT, else 16817. */
  readonly port?: number;
}

interface ScriptResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const runScript = (command: 'start' | 'stop', env: NodeJS.ProcessEnv): Promise<ScriptResult> =>
  new Promise((resolve) => {
    execFile('bash', [script, command], { env, timeout: 90_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr: stderr.trim() || (error?.message ?? '') });
    });
  });

/** Starts (or finds) the test cluster; `{ ok: false, reason }` says why it cannot run here. */
export const startSlurmCluster = async (options: SlurmClusterOptions = {}): Promise<SlurmClusterStart> => {
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (options.dir) env.DAQFLOW_TEST_SLURM_DIR = options.dir;
  if (options.port) env.DAQFLOW_TEST_SLURM_PORT = String(options.port);
  const result = await runScript('start', env);
  if (result.code !== 0) {
    const kind = result.code === 3 ? 'cannot run here' : `start failed (exit ${result.code})`;
    return { ok: false, reason: `single-node Slurm ${kind}: ${result.stderr}` };
  }
  const values = new Map(
    result.stdout
      .split('\n')
      .map((line) => /^([A-Z_]+)=(.*)$/.exec(line.trim()))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1] ?? '', m[2] ?? '']),
  );
  const slurmConf = values.get('SLURM_CONF');
  const dir = values.get('SLURM_DIR');
  if (!slurmConf || !dir) return { ok: false, reason: `unexpected output of ${script}: ${result.stdout}` };
  const startedHere = values.get('STARTED') === 'yes';
  return {
    ok: true,
    cluster: {
      dir,
      slurmConf,
      env: { SLURM_CONF: slurmConf },
      startedHere,
      release: async () => {
        if (!startedHere || process.env.DAQFLOW_TEST_SLURM_KEEP === '1') return;
        const stopped = await runScript('stop', env);
        if (stopped.code !== 0) throw new Error(`stopping the Slurm test cluster failed: ${stopped.stderr}`);
      },
    },
  };
};
