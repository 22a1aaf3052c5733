export { grabRunActor } from './grabRun.actor.js';
export type { AssembleParams, DiscardParams, FetchChunkParams } from './grabRun.effects.js';
export * from './grabRun.events.js';
export { grabRunMachine, retryDelayMs, type GrabRunContext } from './grabRun.machine.js';
export { chunkCountOf, chunkOf, slicesOf, type GrabPlan, type PlannedChunk } from './grabPlan.js';
export * from './grabRequest.js';
export * from './grabWindow.js';
