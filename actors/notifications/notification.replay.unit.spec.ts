import { describeGoldenHistories } from '../../test/harness/goldenHistories.js';
import { defineActor } from '../runtime/actorDefinition.js';
import { notificationActor } from './notification.actor.js';

describeGoldenHistories(defineActor(notificationActor), ['gaveUp', 'refused', 'sentAfterRetries']);
