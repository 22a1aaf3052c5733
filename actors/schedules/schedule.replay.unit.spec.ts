import { describeGoldenHistories } from '../../test/harness/goldenHistories.js';
import { defineActor } from '../runtime/actorDefinition.js';
import { scheduleActor } from './schedule.actor.js';

// The summary holds nextFireAt: a change in how fire times are computed (croner, a zone rule) shows here.
describeGoldenHistories(defineActor(scheduleActor), ['caughtUp', 'skippedAndFailed']);
