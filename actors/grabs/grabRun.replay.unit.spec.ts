import { describeGoldenHistories } from '../../test/harness/goldenHistories.js';
import { defineActor } from '../runtime/actorDefinition.js';
import { grabRunActor } from './grabRun.actor.js';

describeGoldenHistories(defineActor(grabRunActor), ['cancelled', 'completedAfterRetry', 'events', 'failedAfterRetries']);
