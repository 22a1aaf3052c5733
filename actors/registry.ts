import { acquisitionActor } from './acquisition/index.js';
import { demoActor } from './demo/index.js';
import { grabRunActor } from './grabRun/index.js';
import { notificationActor } from './notification/index.js';
import { reportJobActor } from './reportJob/index.js';
import { scheduleActor } from './schedule/index.js';
import { defineActor, type ActorDefinition } from './runtime/actorDefinition.js';

/** Every actor kind daqflow hosts. Domain kinds (acquisitions, reports) join here. */
export const allActorDefinitions: readonly ActorDefinition[] = [
  defineActor(demoActor),
  defineActor(grabRunActor),
  defineActor(scheduleActor),
  defineActor(acquisitionActor),
  defineActor(reportJobActor),
  defineActor(notificationActor),
];
