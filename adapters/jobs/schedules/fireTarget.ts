import type { ActorRuntime } from '../../../actors/runtime/actorRuntime.js';
import { isDaqflowError, UnknownActorError } from '../../../events/errors.js';
import { newId } from '../../ids.js';
import type { FireTarget } from './scheduleEffects.js';
import type { Preparers } from '../preparers.js';

/**
 * How a schedule's fire reaches its target: the target's body is prepared with the fire time as
 * "now" (a caught-up nightly grab grabs the night it was meant to), then created with a request
 * id made of schedule id and fire time, so a fire re-run after a crash finds the target it made.
 * The target is looked up before preparing: a re-run must not fail on a data-logger hiccup in the
 * preparer for a target that exists already. Unavailable sources are retried (6 attempts over
 * about 2.5 minutes by default); a refused body (400) fails the fire at once.
 */
export const createFireTarget =
  (
    runtime: Pick<ActorRuntime, 'get' | 'create'>,
    preparers: Preparers,
    options: { attempts: number; firstDelayMs: number } = { attempts: 6, firstDelayMs: 5_000 },
  ): FireTarget =>
  async (target, at, requestId, scheduleId) => {
    const id = newId(`${target.kind}:${requestId}`); // the id runtime.create derives from a request id
    const made = await runtime.get(target.kind, id).catch((e: unknown) => {
      if (e instanceof UnknownActorError) return undefined;
      throw e;
    });
    if (made) return { id: made.id, state: made.state };
    const preparer = preparers[target.kind]?.[target.command];
    // A data logger that is down for a minute at 01:00 must not cost the night's grab: an
    // unavailable source or store is asked again with backoff before the fire counts as failed.
    for (let attempt = 1; ; attempt++) {
      try {
        const payload = preparer ? await preparer.prepare(target.payload, { reference: at, scheduleId }) : target.payload;
        const view = await runtime.create(target.kind, target.command, payload, { requestId });
        return { id: view.id, state: view.state };
      } catch (e) {
        if (!(isDaqflowError(e) && e.code === 'STORE_UNAVAILABLE') || attempt >= options.attempts) throw e;
        await new Promise((resolve) => setTimeout(resolve, options.firstDelayMs * 2 ** (attempt - 1)));
      }
    }
  };
