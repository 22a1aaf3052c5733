import type { ActorDefinition } from '../../actors/runtime/actorDefinition.js';
import type { Projection } from '../../projections/projection.js';
import { coreProjections } from '../../projections/registry.js';
import { acquisitionsModule } from './acquisitions/index.js';
import { demoModule } from './demo/index.js';
import { grabsModule } from './grabs/index.js';
import type { JobModule } from './jobModule.js';
import { notificationsModule } from './notifications/index.js';
import { reportsModule } from './reports/index.js';
import { schedulesModule } from './schedules/index.js';

/** Every job kind daqflow hosts: one line per kind (docs/contributing.md, "Adding a job kind"). */
export const jobModules: readonly JobModule[] = [
  demoModule,
  grabsModule,
  schedulesModule,
  acquisitionsModule,
  reportsModule,
  notificationsModule,
];

/** The machine definitions of every registered kind. */
export const allActorDefinitions: readonly ActorDefinition[] = jobModules.map((m) => m.definition);

/** Every projection the service keeps, in the order they are applied within a batch. */
export const allProjections: readonly Projection[] = [...coreProjections, ...jobModules.flatMap((m) => m.projections ?? [])];
