import { acquisitionActor } from '../../../actors/acquisitions/index.js';
import { defineJobModule } from '../jobModule.js';
import { acquisitionMetrics } from './acquisitionMetrics.js';
import { acquisitionStatusText } from './acquisitionStatusText.js';
import { acquisitionPlacementOf } from './acquisitionPlacementOf.js';
import type { JobContext } from '../jobModule.js';
import type { BsreadStreamRef } from '../../../actors/acquisitions/acquisition.events.js';

/** The stream this process receives, as an acquisition's events record it. */
const streamOf = (context: JobContext): BsreadStreamRef => {
  const source = context.bsread();
  return { address: source.address, mode: source.counters().mode, ...(context.config.bsreadStream ? {} : { simulated: true as const }) };
};

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
      identity: () => {
        const process = context.processId();
        return { node: context.config.node, ...(process === undefined ? {} : { process }), stream: streamOf(context) };
      },
    }),
  placement: (context) =>
    acquisitionPlacementOf({
      store: context.store,
      self: () => ({ node: context.config.node, stream: streamOf(context) }),
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
