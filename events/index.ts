export * from './envelope.js';
export * from './errors.js';
export * from './eventSchemas.js';
export * from './eventStore.js';
export * from './inMemoryEventStore.js';
