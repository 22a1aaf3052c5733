import { describeGoldenHistories } from '../../test/harness/goldenHistories.js';
import { defineActor } from '../runtime/actorDefinition.js';
import { reportJobActor } from './reportJob.actor.js';

describeGoldenHistories(defineActor(reportJobActor), ['cancelled', 'completed', 'failed', 'timedOut']);
