import { afterEach, describe, expect, it } from 'vitest';
import { DaqflowError } from '../../events/errors.js';
import { InMemoryEventStore } from '../../events/inMemoryEventStore.js';
import { createDemoRuntime } from '../../test/harness/demoRuntime.js';
import type { ActorRuntime } from './actorRuntime.js';

const until = async (check: () => Promise<boolean>, ms = 5_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setImmediate(resolve));
  }
};

let runtime: ActorRuntime | undefined;
afterEach(async () => {
  await runtime?.stop(100);
  runtime = undefined;
});

describe('a thrown effect error', () => {
  it('is stored as effectFailed with its code and retryable flag', async () => {
    const store = new InMemoryEventStore();
    const thrown = Object.assign(new DaqflowError('STORE_UNAVAILABLE', 'the data logger did not answer'), { retryable: true });
    runtime = createDemoRuntime(store, {
      effects: {
        demo: {
          work: () => Promise.reject(thrown),
        },
      },
    });
    await runtime.start();
    const { id } = await runtime.create('demo', 'start', { steps: 1, intervalMs: 0 });
    await until(async () => (await store.readLast('demo', id))?.type === 'effectFailed');
    const failed = (await store.readStream('demo', id)).find((e) => e.type === 'effectFailed');
    expect(failed?.data).toEqual({ effect: 'work', message: 'the data logger did not answer', code: 'STORE_UNAVAILABLE', retryable: true });
  });
});
