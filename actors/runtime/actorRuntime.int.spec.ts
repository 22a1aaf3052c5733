import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDemoEffects } from '../../adapters/jobs/demo/demoEffects.js';
import { connectNats, createJetStreamEventStore, ensureEventStream } from '../../adapters/jetstream/index.js';
import type { EventStore } from '../../events/eventStore.js';
import { createDemoRuntime } from '../../test/harness/demoRuntime.js';
import { testStream } from '../../test/harness/testNames.js';
import type { EffectHandlers } from './actorDefinition.js';
import type { ActorRuntime } from './actorRuntime.js';

// The runtime against the real JetStream store, with two connections standing in for two
// processes: the concurrency check, deduplication and recovery must hold across them.
const names = testStream();
const connections: NatsConnection[] = [];
const runtimes: ActorRuntime[] = [];

const openStore = async (): Promise<EventStore> => {
  const nc = await connectNats(inject('natsUrl'), 'runtime-int');
  connections.push(nc);
  return createJetStreamEventStore({ nc, ...names });
};

const makeRuntime = async (effects: EffectHandlers = createDemoEffects()): Promise<{ runtime: ActorRuntime; store: EventStore }> => {
  const store = await openStore();
  const runtime = createDemoRuntime(store, { effects: { demo: effects } });
  runtimes.push(runtime);
  return { runtime, store };
};

const until = async (check: () => Promise<boolean>, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

beforeAll(async () => {
  const nc = await connectNats(inject('natsUrl'), 'runtime-int-setup');
  connections.push(nc);
  await ensureEventStream(await jetstreamManager(nc), names);
});

afterAll(async () => {
  await Promise.all(runtimes.map((r) => r.stop(100)));
  const jsm = await jetstreamManager(connections[0]!);
  await jsm.streams.delete(names.stream).catch(() => undefined);
  await Promise.all(connections.map((c) => c.close()));
});

describe('ActorRuntime on JetStream', () => {
  it('two processes writing one actor: every command lands once, versions stay contiguous', async () => {
    const a = await makeRuntime();
    const b = await makeRuntime();
    const { id } = await a.runtime.create('demo', 'start', { intervalMs: 3_600_000 });
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).runtime.execute('demo', id, 'note', { text: `n${i}` }, { requestId: `note-${i}` })),
    );
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    const events = await a.store.readStream('demo', id);
    expect(events.map((e) => e.version)).toEqual(Array.from({ length: 31 }, (_, i) => i + 1));
    expect(new Set(events.map((e) => e.commandId).filter(Boolean)).size).toBe(30);
    // Retries through the other process are answered from history, not appended again.
    const retry = await b.runtime.execute('demo', id, 'note', { text: 'n3' }, { requestId: 'note-3' });
    expect(retry.duplicate).toBe(true);
    expect((await a.store.readStream('demo', id)).length).toBe(31);
  });

  it('a restarted process finishes the jobs a stopped one left in flight, without repeating effects', async () => {
    let started = 0;
    const stuck: EffectHandlers = {
      work: () => {
        started++;
        return new Promise(() => undefined);
      },
    };
    const first = await makeRuntime(stuck);
    const ids = await Promise.all(
      Array.from({ length: 5 }, async () => (await first.runtime.create('demo', 'start', { steps: 2, intervalMs: 0 })).id),
    );
    await until(() => Promise.resolve(started === 5));
    await first.runtime.stop(10);

    const workCalls = new Map<string, number>();
    const demo = createDemoEffects();
    const counting: EffectHandlers = {
      work: (params: never, context) => {
        const key = `${context.id}:${(params as { step: number }).step}`;
        workCalls.set(key, (workCalls.get(key) ?? 0) + 1);
        return demo.work!(params, context);
      },
    };
    const second = await makeRuntime(counting);
    const { recovered } = await second.runtime.start();
    expect(recovered).toBeGreaterThanOrEqual(5);
    await until(async () => (await Promise.all(ids.map((id) => second.runtime.get('demo', id)))).every((v) => v.state === 'completed'));
    for (const id of ids) {
      expect(workCalls.get(`${id}:1`)).toBe(1);
      expect(workCalls.get(`${id}:2`)).toBe(1);
    }
  });
});
