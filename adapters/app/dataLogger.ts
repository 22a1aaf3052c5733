import type { DaqflowConfig } from '../config/config.js';
import { createArchiverApplianceSource } from '../dataLogger/archiverAppliance.js';
import type { DataLoggerSource } from '../dataLogger/dataLoggerSource.js';
import { createSimulatorSource } from '../dataLogger/simulator.js';

/** Samples per second of the embedded default's simulated data logger. */
export const DEFAULT_SIMULATOR_RATE_HZ = 1;

/**
 * The data logger grab runs read: the EPICS Archiver Appliance at `DAQFLOW_ARCHIVER_URL`, or,
 * with none configured, the deterministic simulator (so that the embedded default and the demo
 * grab something without facility hardware).
 */
export const dataLoggerFromConfig = (config: Pick<DaqflowConfig, 'archiverUrl' | 'archiverTimeoutMs'>): DataLoggerSource =>
  config.archiverUrl
    ? createArchiverApplianceSource({ baseUrl: config.archiverUrl, timeoutMs: config.archiverTimeoutMs })
    : createSimulatorSource({ seed: 'daqflow', rateHz: DEFAULT_SIMULATOR_RATE_HZ });
