import { describeGoldenHistories } from '../../test/harness/goldenHistories.js';
import { defineActor } from '../runtime/actorDefinition.js';
import { acquisitionActor } from './acquisition.actor.js';

describeGoldenHistories(defineActor(acquisitionActor), ['completed', 'killed', 'startPulseGone', 'stoppedNow', 'takenOver']);
