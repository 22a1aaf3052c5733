export { notificationActor } from './notification.actor.js';
export { notificationMachine, retryDelayMs, type NotificationContext, type SendParams } from './notification.machine.js';
export { notificationEventSchemas, type NotificationEvent, type NotificationMessage, type NotificationTrigger } from './notification.events.js';
export { matchRule, composeMessage, type NotificationRule, notificationRuleSchema } from './notificationRules.js';
