import { describeGoldenHistories } from '../../test/harness/goldenHistories.js';
import { defineActor } from '../runtime/actorDefinition.js';
import { demoActor } from './demo.actor.js';

describeGoldenHistories(defineActor(demoActor), ['cancelled', 'completed', 'failed']);
