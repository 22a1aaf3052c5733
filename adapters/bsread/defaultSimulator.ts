import { defaultSimulatedChannels, startBsreadSimulator, type BsreadSimulator } from './bsreadSimulator.js';

export const DEFAULT_SIMULATOR_RATE_HZ = 100;

/**
 * The stream of a daqflow with no `DAQFLOW_BSREAD_STREAM`: 100 Hz of every channel type and a
 * small camera image on a loopback port. Pulse ids count 100 Hz from the epoch, so that they keep
 * increasing across restarts, as a facility's do.
 */
export const startDefaultSimulator = (): Promise<BsreadSimulator> =>
  startBsreadSimulator({
    address: 'tcp://127.0.0.1:*',
    rateHz: DEFAULT_SIMULATOR_RATE_HZ,
    channels: defaultSimulatedChannels({ imageWidth: 64, imageHeight: 48, waveformLength: 256 }),
    startPulseId: Math.floor(Date.now() / 10),
    missingEvery: 97,
    wallClock: true,
  });
