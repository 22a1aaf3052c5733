export * from './connection.js';
export * from './errors.js';
export * from './eventStream.js';
export * from './jetstreamEventStore.js';
export * from './subjects.js';
