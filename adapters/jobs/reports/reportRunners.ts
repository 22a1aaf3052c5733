import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DaqflowConfig } from '../../config/config.js';
import { LocalRunner } from '../../runners/localRunner.js';
import { SlurmRunner } from '../../runners/slurmRunner.js';
import { REPORT_WORK_FOLDER } from './prepareReportStart.js';

/** `bin/daqflow.js` of this installation: what a report job runs, locally or on a Slurm node (a shared file system). */
export const daqflowBin = resolve(fileURLToPath(import.meta.url), '..', '..', '..', '..', 'bin', 'daqflow.js');

/** The two runners of report jobs, as configured. */
export const reportRunners = (config: Pick<DaqflowConfig, 'dataRootDir' | 'slurmBinDir' | 'localJobs'>) => {
  const bin = (name: string): string => (config.slurmBinDir ? join(config.slurmBinDir, name) : name);
  return {
    local: new LocalRunner({ stateDir: join(resolve(config.dataRootDir), REPORT_WORK_FOLDER, 'local-runner'), maxConcurrent: config.localJobs }),
    slurm: new SlurmRunner({ sbatchPath: bin('sbatch'), squeuePath: bin('squeue'), scancelPath: bin('scancel') }),
  };
};
