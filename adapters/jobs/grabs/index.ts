import { grabRunActor } from '../../../actors/grabs/index.js';
import { grabStatisticsProjection } from '../../../projections/grabStatistics.projection.js';
import { defineJobModule } from '../jobModule.js';
import { grabMetrics } from './grabMetrics.js';
import { grabStatusText } from './grabStatusText.js';

/** Grab runs: a time window of parameter data from the data logger to HDF5, with per-parameter statistics. */
export const grabsModule = defineJobModule({
  name: 'grabs',
  storedKind: grabRunActor.kind,
  definition: grabRunActor,
  service: {
    description:
      'grab runs: a time window of parameter data from the data logger to HDF5, with per-parameter statistics; start, cancel, get',
  },
  effects: async (context) =>
    (await import('./grabEffects.js')).createGrabEffects({
      source: context.dataLogger,
      dataRoot: context.config.dataRootDir,
      logger: context.logger,
    }),
  preparers: async (context) => {
    const [{ grabStartRequestSchema }, { prepareGrabStart }] = await Promise.all([
      import('../../../actors/grabs/grabRequest.js'),
      import('./prepareGrabStart.js'),
    ]);
    return {
      start: {
        requestSchema: grabStartRequestSchema,
        prepare: (body, prepareContext) =>
          prepareGrabStart(body, {
            source: context.dataLogger,
            dataRoot: context.config.dataRootDir,
            timeZone: context.config.timeZone,
            reference: prepareContext.reference,
            scheduleId: prepareContext.scheduleId ?? null,
          }),
      },
    };
  },
  start: async (context) => {
    const { sweepWorkFolders } = await import('./sweepWorkFolders.js');
    // Work folders of grab runs that finished while their clean-up was cut short (a kill).
    const sweeping = sweepWorkFolders(context.config.dataRootDir, context.store, { logger: context.logger }).catch((e: unknown) =>
      context.logger.warn({ err: e }, 'could not sweep the work folders of finished grab runs'),
    );
    return [{ name: 'grab work folders', stopWith: 'effects', stop: () => sweeping }];
  },
  projections: [grabStatisticsProjection],
  metrics: grabMetrics,
  registerCli: async (program) => {
    const [{ registerGrabCommands }, { registerStatsCommands }] = await Promise.all([
      import('./grabCli.js'),
      import('./statsCli.js'),
    ]);
    registerGrabCommands(program);
    registerStatsCommands(program);
  },
  statusText: (summary) => grabStatusText(summary),
});
