import { defineJobModule } from '../../../../adapters/jobs/jobModule.js';
import { pingActor } from '../../actors/pings/ping.actor.js';

/** A kind added the way docs/contributing.md says: this folder, `../../actors/pings/`, and one registry line. */
export const pingsModule = defineJobModule({
  name: 'pings',
  storedKind: pingActor.kind,
  definition: pingActor,
  service: { description: 'pings: a text answered upper-cased; start, get' },
  effects: async () => (await import('./pingEffects.js')).createPingEffects(),
});
