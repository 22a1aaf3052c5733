export * from './actorDefinition.js';
export * from './actorRuntime.js';
export * from './effectFailed.js';
export * from './logger.js';
export * from './rehydrate.js';
export * from './stateOf.js';
