import { describe, expect, it } from 'vitest';
import type { ActorView } from '../../../actors/runtime/actorRuntime.js';
import { StoreUnavailableError, UnknownActorError, ValidationError } from '../../../events/errors.js';
import { newId } from '../../ids.js';
import type { Preparers } from '../preparers.js';
import { createFireTarget } from './fireTarget.js';

const view = (id: string): ActorView => ({ kind: 'grab', id, state: 'fetching', final: false, version: 1, position: 1, summary: {} });

/** A runtime holding created actors by id, counting creates. */
const fakeRuntime = () => {
  const made = new Map<string, ActorView>();
  const creates: unknown[] = [];
  return {
    creates,
    runtime: {
      get: (kind: string, id: string) => (made.has(id) ? Promise.resolve(made.get(id)!) : Promise.reject(new UnknownActorError(kind, id))),
      create: (kind: string, _command: string, payload: unknown, meta: { requestId?: string } = {}) => {
        creates.push(payload);
        const id = newId(`${kind}:${meta.requestId}`);
        made.set(id, view(id));
        return Promise.resolve(view(id));
      },
    },
  };
};

const preparersFailing = (failures: number, error: () => Error, references: Date[]): Preparers => ({
  grab: {
    start: {
      requestSchema: undefined as never,
      prepare: (body, context) => {
        references.push(context.reference);
        return failures-- > 0 ? Promise.reject(error()) : Promise.resolve({ ...body, prepared: true });
      },
    },
  },
});

const target = { kind: 'grab', command: 'start', payload: { parameters: ['A'] } };
const at = new Date('2026-11-22T01:00:00Z');

describe('a schedule fire reaching its target', () => {
  it('prepares the body with the fire time as now, retries an unavailable source, creates once', async () => {
    const { runtime, creates } = fakeRuntime();
    const references: Date[] = [];
    const fire = createFireTarget(runtime, preparersFailing(2, () => new StoreUnavailableError('archiver down'), references), {
      attempts: 4,
      firstDelayMs: 1,
    });
    const first = await fire(target, at, 'schedule-s1-1795309200000', 's1');
    expect(references).toEqual([at, at, at]);
    expect(creates).toEqual([{ parameters: ['A'], prepared: true }]);
    // Again (a fire re-run after a crash): the target it made, nothing prepared or created.
    expect(await fire(target, at, 'schedule-s1-1795309200000', 's1')).toEqual(first);
    expect(references).toHaveLength(3);
    expect(creates).toHaveLength(1);
  });

  it('gives up after the attempts, and at once on a refused body', async () => {
    const { runtime, creates } = fakeRuntime();
    const references: Date[] = [];
    const down = createFireTarget(runtime, preparersFailing(10, () => new StoreUnavailableError('archiver down'), references), {
      attempts: 3,
      firstDelayMs: 1,
    });
    await expect(down(target, at, 'schedule-s2-1', 's2')).rejects.toThrow(/archiver down/);
    expect(references).toHaveLength(3);
    const refusedRefs: Date[] = [];
    const refused = createFireTarget(runtime, preparersFailing(10, () => new ValidationError('unknown parameter A'), refusedRefs), {
      attempts: 3,
      firstDelayMs: 1,
    });
    await expect(refused(target, at, 'schedule-s3-1', 's3')).rejects.toThrow(/unknown parameter/);
    expect(refusedRefs).toHaveLength(1);
    expect(creates).toHaveLength(0);
  });
});
