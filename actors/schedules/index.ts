export { DEFAULT_GRACE_SECONDS, scheduleActor, scheduleCreateSchema, type ScheduleCreateRequest, type ScheduleRefireParams } from './schedule.actor.js';
export { scheduleMachine, type PendingFire, type ScheduleContext, type ScheduleFireParams } from './schedule.machine.js';
export { missedPolicies, scheduleEventSchemas, type MissedPolicy, type ScheduleEvent, type ScheduleTarget } from './schedule.events.js';
export { cronProblem, nextFireTime, timeZoneProblem } from './nextFireTime.js';
