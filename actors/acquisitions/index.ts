export { acquisitionActor, type AcquisitionSummary, type AcquisitionView } from './acquisition.actor.js';
export * from './acquisition.events.js';
export { acquisitionMachine, type AcquireParams, type AcquisitionContext, type KillParams, type LostPulsesSummary, type SetStopParams } from './acquisition.machine.js';
