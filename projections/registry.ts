import { actorStatusProjection } from './actorStatus.projection.js';
import { actorTransitionProjection } from './actorTransition.projection.js';
import type { Projection } from './projection.js';

/**
 * The projections of every kind's events, applied first within a batch; a kind's own projections
 * follow, listed by its job module (`adapters/jobs/registry.ts` has them all).
 */
export const coreProjections: readonly Projection[] = [actorStatusProjection, actorTransitionProjection];
