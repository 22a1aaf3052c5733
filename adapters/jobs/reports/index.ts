import { reportJobActor } from '../../../actors/reports/index.js';
import { defineJobModule } from '../jobModule.js';
import { reportMetrics } from './reportMetrics.js';

/** Report jobs: plots of the statistics database, run on a local runner or Slurm, an HTML report, published. */
export const reportsModule = defineJobModule({
  name: 'reports',
  storedKind: reportJobActor.kind,
  definition: reportJobActor,
  service: {
    description:
      'report jobs: plots of the statistics database per instrument and detector, run on a local runner or Slurm, an HTML report, published; start, cancel, get',
  },
  effects: async (context) => {
    const [{ createReportEffects }, { daqflowBin, reportRunners }] = await Promise.all([
      import('./reportEffects.js'),
      import('./reportRunners.js'),
    ]);
    return createReportEffects({
      db: context.db,
      runners: reportRunners(context.config),
      renderCommand: [process.execPath, daqflowBin, 'report', 'render-job'],
      logger: context.logger,
    });
  },
  preparers: async (context) => {
    const [{ reportStartRequestSchema }, { prepareReportStart }] = await Promise.all([
      import('../../../actors/reports/reportRequest.js'),
      import('./prepareReportStart.js'),
    ]);
    return {
      start: {
        requestSchema: reportStartRequestSchema,
        prepare: (body, prepareContext) =>
          prepareReportStart(body, {
            dataRoot: context.config.dataRootDir,
            timeZone: context.config.timeZone,
            reference: prepareContext.reference,
            defaultConfigPath: context.config.reportConfig,
            scheduleId: prepareContext.scheduleId ?? null,
          }),
      },
    };
  },
  metrics: reportMetrics,
  registerCli: async (program) => (await import('./reportCli.js')).registerReportCommands(program),
});
