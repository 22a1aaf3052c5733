export { reportJobActor } from './reportJob.actor.js';
export * from './reportJob.effects.js';
export * from './reportJob.events.js';
export { reportJobMachine, type ReportJobContext, type ReportJobRecord } from './reportJob.machine.js';
export * from './reportConfig.js';
export * from './reportRequest.js';
