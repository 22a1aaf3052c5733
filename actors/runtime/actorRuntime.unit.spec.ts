import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { assign, setup } from 'xstate';
import { z } from 'zod';
import { EventSchemas } from '../../events/eventSchemas.js';
import { afterEach, describe, expect, it } from 'vitest';
import { demoActor } from '../demo/index.js';
import { InMemoryEventStore } from '../../events/inMemoryEventStore.js';
import {
  StoreUnavailableError,
  UnknownActorError,
  ValidationError,
  WrongStateError,
  isDaqflowError,
} from '../../events/errors.js';
import { createDemoEffects } from '../../adapters/jobs/demo/demoEffects.js';
import { ActorRuntime, type ActorRuntimeOptions } from './actorRuntime.js';
import { defineActor, effect, type EffectHandlers } from './actorDefinition.js';
import { rehydrate } from './rehydrate.js';
import { createDemoRuntime } from '../../test/harness/demoRuntime.js';

const runtimes: ActorRuntime[] = [];
const makeRuntime = (store: InMemoryEventStore, options: Partial<ActorRuntimeOptions> = {}): ActorRuntime => {
  const runtime = createDemoRuntime(store, options);
  runtimes.push(runtime);
  return runtime;
};

afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((r) => r.stop(100)));
});

const until = async (check: () => Promise<boolean> | boolean, ms = 5_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('ActorRuntime with the demo actor', () => {
  it('appends one event per transition, carrying states, versions and summary', async () => {
    const store = new InMemoryEventStore();
    const runtime = makeRuntime(store);
    const view = await runtime.create('demo', 'start', { steps: 2, intervalMs: 60_000, label: 'a' });
    expect(view).toMatchObject({ kind: 'demo', state: 'waiting', version: 1, final: false });
    await runtime.execute('demo', view.id, 'note', { text: 'hello' });
    const events = await store.readStream('demo', view.id);
    expect(events.map((e) => [e.type, e.version, e.previousState, e.state])).toEqual([
      ['started', 1, null, 'waiting'],
      ['noted', 2, 'waiting', 'waiting'],
    ]);
    expect(events[1]?.summary).toMatchObject({ notes: 1, steps: 2, label: 'a' });
    expect(events[1]?.correlationId).toBe(events[0]?.correlationId);
  });

  it('runs deadlines and effects until the job completes', async () => {
    const store = new InMemoryEventStore();
    const runtime = makeRuntime(store);
    const { id } = await runtime.create('demo', 'start', { steps: 3, intervalMs: 1 });
    await until(async () => (await runtime.get('demo', id)).state === 'completed');
    const types = (await store.readStream('demo', id)).map((e) => e.type);
    expect(types).toEqual(['started', 'tickDue', 'stepDone', 'tickDue', 'stepDone', 'tickDue', 'stepDone']);
    expect((await runtime.get('demo', id)).summary).toMatchObject({ done: 3 });
  });

  it('records a failing effect as a failed actor with the reason', async () => {
    const store = new InMemoryEventStore();
    const runtime = makeRuntime(store);
    const { id } = await runtime.create('demo', 'start', { steps: 3, intervalMs: 0, failAtStep: 2 });
    await until(async () => (await runtime.get('demo', id)).final);
    const view = await runtime.get('demo', id);
    expect(view.state).toBe('failed');
    expect(view.summary.error).toMatch(/step 2 failed/);
  });

  it('refuses bad input, unknown actors and commands the state does not accept', async () => {
    const store = new InMemoryEventStore();
    const runtime = makeRuntime(store);
    await expect(runtime.create('demo', 'start', { steps: -1 })).rejects.toBeInstanceOf(ValidationError);
    await expect(runtime.create('demo', 'start', { stepz: 1 })).rejects.toThrow(/stepz|Unrecognized/);
    await expect(runtime.execute('demo', randomUUID(), 'note', { text: 'x' })).rejects.toBeInstanceOf(UnknownActorError);
    await expect(runtime.execute('demo', 'bad id!', 'note', { text: 'x' })).rejects.toBeInstanceOf(ValidationError);
    const { id } = await runtime.create('demo', 'start', { intervalMs: 60_000 });
    await runtime.execute('demo', id, 'cancel', { reason: 'test' });
    const error = await runtime.execute('demo', id, 'note', { text: 'late' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WrongStateError);
    expect(isDaqflowError(error) && error.status).toBe(409);
    expect(await store.lastPosition()).toBe(2);
  });

  it('answers a retried request with the first answer and stores it once', async () => {
    const store = new InMemoryEventStore();
    const runtime = makeRuntime(store);
    const first = await runtime.create('demo', 'start', { intervalMs: 60_000 }, { requestId: 'r-1' });
    const again = await runtime.create('demo', 'start', { intervalMs: 60_000 }, { requestId: 'r-1' });
    expect(again).toMatchObject({ id: first.id, duplicate: true, version: 1 });
    await runtime.execute('demo', first.id, 'note', { text: 'x' }, { requestId: 'n-1' });
    // The actor has moved on, but a retry still gets the answer the first request got.
    const late = await runtime.create('demo', 'start', { intervalMs: 60_000 }, { requestId: 'r-1' });
    expect(late).toEqual({ ...first, duplicate: true });
    // A second process that never saw the first request still answers from the stored history.
    const other = makeRuntime(store);
    const retried = await other.execute('demo', first.id, 'note', { text: 'x' }, { requestId: 'n-1' });
    expect(retried).toMatchObject({ duplicate: true, version: 2 });
    expect(await store.lastPosition()).toBe(2);
  });

  it('never repeats a side effect on replay, and re-issues one that was in flight at a crash', async () => {
    const store = new InMemoryEventStore();
    let calls = 0;
    const hanging: EffectHandlers = {
      work: () => {
        calls++;
        return new Promise(() => undefined);
      },
    };
    const crashed = makeRuntime(store, { effects: { demo: hanging } });
    const { id } = await crashed.create('demo', 'start', { steps: 2, intervalMs: 0 });
    await until(() => calls === 1);
    await crashed.stop(10);
    expect((await store.readLast('demo', id))?.state).toBe('working');

    let replayedCalls = 0;
    const counting = createDemoEffects();
    const restarted = makeRuntime(store, {
      effects: { demo: { work: (p: never, c) => ((replayedCalls++), counting.work!(p, c)) } },
    });
    expect(await restarted.start()).toEqual({ recovered: 1 });
    await until(async () => (await restarted.get('demo', id)).final);
    // One re-issued step (the one in flight) and the one after it; the first never ran twice.
    expect(replayedCalls).toBe(2);
    expect((await restarted.get('demo', id)).state).toBe('completed');

    const third = makeRuntime(store, { effects: { demo: { work: () => Promise.reject(new Error('must not run')) } } });
    expect(await third.start()).toEqual({ recovered: 0 });
  });

  it('fires a deadline that passed while no runtime was running', async () => {
    const store = new InMemoryEventStore();
    let now = Date.parse('2026-01-01T00:00:00Z');
    const clock = (): Date => new Date(now);
    const first = makeRuntime(store, { clock });
    const { id } = await first.create('demo', 'start', { steps: 1, intervalMs: 3_600_000 });
    await first.stop(10);
    now += 2 * 3_600_000;
    const second = makeRuntime(store, { clock });
    await second.start();
    await until(async () => (await second.get('demo', id)).final);
    expect((await second.get('demo', id)).state).toBe('completed');
  });

  it('lets two runtimes write one actor without losing or doubling a transition', async () => {
    const store = new InMemoryEventStore();
    const a = makeRuntime(store);
    const b = makeRuntime(store);
    const { id } = await a.create('demo', 'start', { intervalMs: 60_000 });
    await b.get('demo', id);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).execute('demo', id, 'note', { text: `n${i}` })),
    );
    const events = await store.readStream('demo', id);
    expect(events.map((e) => e.version)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    expect((await a.get('demo', id)).summary.notes).toBe(20);
  });

  it('property: the state rebuilt from the stream equals the live state', async () => {
    type Op = { op: 'note' } | { op: 'cancel' } | { op: 'work'; ok: boolean } | { op: 'tick' };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.constant<Op>({ op: 'note' }),
      fc.constant<Op>({ op: 'cancel' }),
      fc.boolean().map<Op>((ok) => ({ op: 'work', ok })),
      fc.constant<Op>({ op: 'tick' }),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.array(opArb, { maxLength: 25 }), async (steps, ops) => {
        const store = new InMemoryEventStore();
        const pending: Array<(ok: boolean) => void> = [];
        const controlled: EffectHandlers = {
          work: (params: { step: number }) =>
            new Promise((resolve, reject) => {
              pending.push((ok) => (ok ? resolve({ type: 'stepDone', data: { step: params.step, result: 'r' } }) : reject(new Error('no'))));
            }),
        };
        const runtime = makeRuntime(store, { effects: { demo: controlled } });
        let last = await runtime.create('demo', 'start', { steps, intervalMs: 0 });
        const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 2));
        for (const op of ops) {
          if (op.op === 'note' || op.op === 'cancel') {
            last = await runtime
              .execute('demo', last.id, op.op, op.op === 'note' ? { text: 'n' } : {})
              .catch((e: unknown) => {
                if (e instanceof WrongStateError) return last;
                throw e;
              });
          } else if (op.op === 'work') {
            pending.shift()?.(op.ok);
          }
          await settle();
        }
        // Compared once every event the runtime has applied is in the stream and no more come.
        const id = last.id;
        await until(async () => (await runtime.get('demo', id)).version === (await store.readStream('demo', id)).length);
        const live = runtime.peek('demo', last.id);
        const events = await store.readStream('demo', last.id);
        const rebuilt = rehydrate(defineActor(demoActor), last.id, events);
        const view = await runtime.get('demo', last.id);
        expect(view.version).toBe(events.length);
        expect(view.state).toBe(events.at(-1)?.state);
        if (live) {
          expect(rebuilt.snapshot.value).toEqual(live.value);
          expect(rebuilt.snapshot.context).toEqual(live.context);
        } else {
          expect(rebuilt.snapshot.status).toBe('done');
        }
        await runtime.stop(0);
      }),
      { numRuns: 60 },
    );
  });

  it('aborts the effects in flight of an actor that reaches a final state, and records nothing they return', async () => {
    const store = new InMemoryEventStore();
    let started = false;
    let abortedWith: unknown;
    const runtime = makeRuntime(store, {
      effects: {
        demo: {
          work: (_params: unknown, context) =>
            new Promise((resolve) => {
              started = true;
              context.signal.addEventListener('abort', () => {
                abortedWith = context.signal.reason;
                resolve({ type: 'stepDone', data: { step: 1, result: 'too late' } });
              });
            }),
        },
      },
    });
    const { id } = await runtime.create('demo', 'start', { steps: 2, intervalMs: 0 });
    await until(() => started);
    expect(abortedWith).toBeUndefined();
    await runtime.execute('demo', id, 'cancel', { reason: 'operator' });
    await until(() => abortedWith !== undefined);
    expect(String(abortedWith)).toMatch(/is cancelled/);
    // The effect has returned; stopping waits until the runtime is done with what it returned.
    await runtime.stop();
    expect((await store.readStream('demo', id)).map((e) => e.type)).toEqual(['started', 'tickDue', 'cancelled']);
  });

  it('keeps trying to record an effect outcome while the store cannot be reached', async () => {
    const inner = new InMemoryEventStore();
    let failures = 2;
    const store = Object.assign(Object.create(inner) as InMemoryEventStore, {
      append: (event: Parameters<InMemoryEventStore['append']>[0], options?: Parameters<InMemoryEventStore['append']>[1]) => {
        if (event.type === 'stepDone' && failures > 0) {
          failures--;
          return Promise.reject(new StoreUnavailableError('JetStream did not answer (scripted)'));
        }
        return inner.append(event, options);
      },
    });
    const runtime = makeRuntime(store);
    const { id } = await runtime.create('demo', 'start', { steps: 1, intervalMs: 0 });
    await until(async () => (await inner.readLast('demo', id))?.state === 'completed', 10_000);
    expect(failures).toBe(0);
    expect((await inner.readStream('demo', id)).map((e) => e.type)).toEqual(['started', 'tickDue', 'stepDone']);
  });

  it('records the events an effect reports while it runs, each once, and tells it when the actor has moved on', async () => {
    const machine = setup({
      types: {
        context: {} as { reported: number; deadlines: Record<string, never> },
        events: {} as { type: 'started' | 'progress' | 'done' | 'stopped'; data: { n?: number }; time: string },
      },
      actions: { job: effect<undefined>() },
    }).createMachine({
      context: { reported: 0, deadlines: {} },
      initial: 'idle',
      states: {
        idle: { on: { started: { target: 'working', actions: 'job' } } },
        working: {
          on: {
            progress: { actions: assign({ reported: ({ context }) => context.reported + 1 }) },
            done: 'done',
            stopped: 'stopped',
          },
        },
        done: { type: 'final' },
        stopped: { type: 'final' },
      },
    });
    const anyData = z.object({ n: z.number().optional() });
    const definition = defineActor({
      kind: 'job',
      machine,
      effects: { job: effect<undefined>() },
      eventSchemas: Object.fromEntries(['started', 'progress', 'done', 'stopped'].map((t) => [t, { version: 1, schema: anyData }])),
      commands: {
        start: { creates: true, schema: z.strictObject({}), toEvent: () => ({ type: 'started', data: {} }) },
        stop: { schema: z.strictObject({}), toEvent: () => ({ type: 'stopped', data: {} }) },
      },
      summary: (snapshot) => ({ reported: snapshot.context.reported }),
    });
    const store = new InMemoryEventStore();
    let release: () => void = () => undefined;
    const answers: boolean[] = [];
    const runtime = new ActorRuntime({
      store,
      schemas: new EventSchemas(),
      definitions: [definition],
      newId: () => randomUUID(),
      effects: {
        job: {
          job: async (_params: unknown, context) => {
            for (let n = 1; n <= 3; n++) answers.push(await context.report({ type: 'progress', data: { n } }));
            await new Promise<void>((resolve) => (release = resolve));
            answers.push(await context.report({ type: 'progress', data: { n: 4 } }));
            return undefined;
          },
        },
      },
    });
    runtimes.push(runtime);
    const { id } = await runtime.create('job', 'start', {});
    await until(() => answers.length === 3);
    expect((await runtime.get('job', id)).summary).toEqual({ reported: 3 });
    await runtime.execute('job', id, 'stop', {});
    release();
    await until(() => answers.length === 4);
    expect(answers).toEqual([true, true, true, false]);
    expect((await store.readStream('job', id)).map((e) => e.type)).toEqual(['started', 'progress', 'progress', 'progress', 'stopped']);
  });
});
