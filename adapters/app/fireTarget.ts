import type { ActorRuntime } from '../../actors/runtime/actorRuntime.js';
import { UnknownActorError } from '../../events/errors.js';
import { newId } from '../ids.js';
import type { FireTarget } from '../schedule/scheduleEffects.js';
import type { Preparers } from './commandPreparers.js';

/**
 * How a schedule's fire reaches its target: the target's body is prepared with the fire time as
 * "now" (a caught-up nightly grab grabs the night it was meant to), then created with a request
 * id made of schedule id and fire time, so a fire re-run after a crash finds the target it made.
 * The target is looked up before preparing: a re-run must not fail on a data-logger hiccup in the
 * preparer for a target that exists already.
 */
export const createFireTarget =
  (runtime: Pick<ActorRuntime, 'get' | 'create'>, preparers: Preparers): FireTarget =>
  async (target, at, requestId, scheduleId) => {
    const id = newId(`${target.kind}:${requestId}`); // the id runtime.create derives from a request id
    const made = await runtime.get(target.kind, id).catch((e: unknown) => {
      if (e instanceof UnknownActorError) return undefined;
      throw e;
    });
    if (made) return { id: made.id, state: made.state };
    const preparer = preparers[target.kind]?.[target.command];
    const payload = preparer ? await preparer.prepare(target.payload, { reference: at, scheduleId }) : target.payload;
    const view = await runtime.create(target.kind, target.command, payload, { requestId });
    return { id: view.id, state: view.state };
  };
