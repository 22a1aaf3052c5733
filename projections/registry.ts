import { actorStatusProjection } from './actorStatus.projection.js';
import { actorTransitionProjection } from './actorTransition.projection.js';
import { grabStatisticsProjection } from './grabStatistics.projection.js';
import type { Projection } from './projection.js';

/** Every projection the service keeps, in the order they are applied within a batch. */
export const allProjections: readonly Projection[] = [
  actorStatusProjection,
  actorTransitionProjection,
  grabStatisticsProjection,
];
