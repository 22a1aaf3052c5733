import { acquisitionActor } from '../../../actors/acquisitions/index.js';
import { defineJobModule } from '../jobModule.js';
import { acquisitionMetrics } from './acquisitionMetrics.js';
import { acquisitionStatusText } from './acquisitionStatusText.js';

/** Writer acquisitions: pulses N..M of the bsread stream from the ring buffer to one HDF5 file. */
export const acquisitionsModule = defineJobModule({
  name: 'acquisitions',
  storedKind: acquisitionActor.kind,
  definition: acquisitionActor,
  service: {
    description:
      'writer acquisitions: pulses N..M of the bsread stream from the ring buffer to one HDF5 file (SwissFEL layout); start, stop, kill, get',
  },
  effects: async (context) =>
    (await import('./acquisitionEffects.js')).createAcquisitionEffects({
      source: context.bsread,
      dataRoot: context.config.dataRootDir,
      logger: context.logger,
    }),
  preparers: async (context) => {
    const { acquisitionStartRequestSchema, prepareAcquisitionStart } = await import('./prepareAcquisitionStart.js');
    return {
      start: {
        requestSchema: acquisitionStartRequestSchema,
        prepare: (body) => prepareAcquisitionStart(body, { source: context.bsread(), dataRoot: context.config.dataRootDir }),
      },
    };
  },
  metrics: acquisitionMetrics,
  registerCli: async (program) => (await import('./acquireCli.js')).registerAcquireCommands(program),
  statusText: acquisitionStatusText,
});
