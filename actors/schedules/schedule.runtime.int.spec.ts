import { afterEach, describe, expect, it } from 'vitest';
import { newId } from '../../adapters/ids.js';
import { fireRequestId } from '../../adapters/jobs/schedules/scheduleEffects.js';
import type { RecordedEvent } from '../../events/envelope.js';
import { InMemoryEventStore } from '../../events/inMemoryEventStore.js';
import { createScheduleRuntime, heldClock, scheduledDemo, type AroundFire } from '../../test/harness/scheduleRuntime.js';
import type { ActorRuntime } from '../runtime/actorRuntime.js';

const runtimes: ActorRuntime[] = [];
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((r) => r.stop(100)));
});

const startRuntime = async (
  store: InMemoryEventStore,
  clock: () => Date,
  around?: AroundFire,
): Promise<ActorRuntime> => {
  const runtime = createScheduleRuntime(store, { clock, ...(around ? { around } : {}) });
  runtimes.push(runtime);
  await runtime.start();
  return runtime;
};

const until = async (check: () => Promise<boolean> | boolean, ms = 5_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

const demoIds = async (store: InMemoryEventStore): Promise<string[]> => {
  const ids: string[] = [];
  for await (const head of store.readHeads()) if (head.actorKind === 'demo') ids.push(head.actorId);
  return ids;
};

const typesOf = (events: readonly RecordedEvent[]): string[] => events.map((e) => e.type);

const create = (runtime: ActorRuntime, overrides: Record<string, unknown> = {}) =>
  runtime.create('schedule', 'create', { name: 'nightly demo', cron: '0 1 * * *', timeZone: 'UTC', target: scheduledDemo, ...overrides });

describe('schedules on the runtime', () => {
  it('fires on time and creates its target once, with a request id of schedule and fire time', async () => {
    const store = new InMemoryEventStore();
    const time = heldClock('2025-06-01T00:59:59.800Z');
    const runtime = await startRuntime(store, time.clock);
    const schedule = await create(runtime);
    expect(schedule.summary.nextFireAt).toBe('2025-06-01T01:00:00.000Z');
    time.run();
    await until(async () => (await runtime.get('schedule', schedule.id)).summary.fires === 1);
    const ids = await demoIds(store);
    expect(ids).toEqual([newId(`demo:${fireRequestId(schedule.id, '2025-06-01T01:00:00.000Z')}`)]);
    const view = await runtime.get('schedule', schedule.id);
    expect(view.summary).toMatchObject({ lastFireAt: '2025-06-01T01:00:00.000Z', lastTargetId: ids[0], nextFireAt: '2025-06-02T01:00:00.000Z', skipped: 0 });
    const events = await store.readStream('schedule', schedule.id);
    expect(typesOf(events)).toEqual(['created', 'fireDue', 'fired']);
    expect((await store.readStream('demo', ids[0] ?? ''))[0]).toMatchObject({ commandId: fireRequestId(schedule.id, '2025-06-01T01:00:00.000Z') });
  });

  it('does not create a second target when the process dies between the fire and its outcome', async () => {
    const store = new InMemoryEventStore();
    const time = heldClock('2025-06-01T00:59:59.800Z');
    const clock = time.clock;
    let release = (): void => undefined;
    const held = new Promise<void>((r) => (release = r));
    let targetCreated = false;
    const first = await startRuntime(store, clock, async (created) => {
      const view = await created;
      targetCreated = true;
      await held; // the process "dies" here: the target exists, the outcome is not stored
      return view;
    });
    const schedule = await create(first);
    expect(schedule.summary.nextFireAt).toBe('2025-06-01T01:00:00.000Z');
    time.run();
    await until(() => targetCreated);
    await first.stop(10);
    release();
    // Stopping again waits for the released effect to finish.
    await first.stop();
    expect(typesOf(await store.readStream('schedule', schedule.id))).toEqual(['created', 'fireDue']);
    expect(await demoIds(store)).toHaveLength(1);

    const second = await startRuntime(store, clock);
    await until(async () => (await second.get('schedule', schedule.id)).summary.fires === 1);
    const ids = await demoIds(store);
    expect(ids).toHaveLength(1);
    expect((await second.get('schedule', schedule.id)).summary).toMatchObject({ lastTargetId: ids[0] });
    expect(typesOf(await store.readStream('schedule', schedule.id))).toEqual(['created', 'fireDue', 'fired']);
    expect(await store.readStream('demo', ids[0] ?? '')).toHaveLength(1);
  });

  it('catches up a fire time that passed while down exactly once, and counts on from now', async () => {
    const store = new InMemoryEventStore();
    const before = await startRuntime(store, () => new Date('2025-06-01T12:00:00.000Z'));
    const schedule = await create(before, { cron: '0 1 * * *' });
    expect(schedule.summary.nextFireAt).toBe('2025-06-02T01:00:00.000Z');
    await before.stop(10);

    const started = Date.now();
    const after = await startRuntime(store, () => new Date());
    await until(async () => (await after.get('schedule', schedule.id)).summary.fires === 1);
    await new Promise((r) => setTimeout(r, 50));
    const events = await store.readStream('schedule', schedule.id);
    expect(typesOf(events)).toEqual(['created', 'fireDue', 'fired']);
    expect(events[1]?.data).toEqual({ at: '2025-06-02T01:00:00.000Z' });
    expect(await demoIds(store)).toHaveLength(1);
    const view = await after.get('schedule', schedule.id);
    expect(view.summary.lastFireAt).toBe('2025-06-02T01:00:00.000Z');
    expect(Date.parse(String(view.summary.nextFireAt))).toBeGreaterThan(started);
    await after.stop(10);

    // Another restart finds nothing due: still one target.
    const again = await startRuntime(store, () => new Date());
    await new Promise((r) => setTimeout(r, 50));
    expect(typesOf(await store.readStream('schedule', schedule.id))).toEqual(['created', 'fireDue', 'fired']);
    expect(await demoIds(store)).toHaveLength(1);
    await again.stop(10);
  });

  it('skips a fire time that passed while down when so configured', async () => {
    const store = new InMemoryEventStore();
    const before = await startRuntime(store, () => new Date('2025-06-01T12:00:00.000Z'));
    const schedule = await create(before, { missed: 'skip' });
    await before.stop(10);
    const after = await startRuntime(store, () => new Date());
    await until(async () => (await after.get('schedule', schedule.id)).summary.skipped === 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(typesOf(await store.readStream('schedule', schedule.id))).toEqual(['created', 'fireDue']);
    expect(await demoIds(store)).toEqual([]);
  });

  it('records a refused target as fireFailed and stays active', async () => {
    const store = new InMemoryEventStore();
    const time = heldClock('2025-06-01T00:59:59.800Z');
    const runtime = await startRuntime(store, time.clock);
    const schedule = await create(runtime, { target: { kind: 'demo', command: 'start', payload: { steps: -1 } } });
    time.run();
    await until(async () => (await runtime.get('schedule', schedule.id)).summary.failures === 1);
    const view = await runtime.get('schedule', schedule.id);
    expect(view.state).toBe('active');
    expect(view.summary.lastError).toMatch(/fire at 2025-06-01T01:00:00.000Z: invalid demo start: steps/);
    expect(await demoIds(store)).toEqual([]);
  });

  it('pauses, resumes and removes through its commands', async () => {
    const store = new InMemoryEventStore();
    const runtime = await startRuntime(store, () => new Date());
    const { id } = await create(runtime);
    expect((await runtime.execute('schedule', id, 'pause', {})).summary.nextFireAt).toBeNull();
    await expect(runtime.execute('schedule', id, 'pause', {})).rejects.toMatchObject({ code: 'WRONG_STATE' });
    expect((await runtime.execute('schedule', id, 'resume', {})).summary.nextFireAt).toEqual(expect.any(String));
    const removed = await runtime.execute('schedule', id, 'remove', { reason: 'done with it' });
    expect(removed).toMatchObject({ state: 'removed', final: true });
  });
});
