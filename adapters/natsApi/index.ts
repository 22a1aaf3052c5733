export * from './actorService.js';
export * from './errors.js';
export * from './requestGuard.js';
export * from './queryService.js';
export * from './requestBody.js';
export * from './startApi.js';
