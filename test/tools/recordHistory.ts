// Records golden histories of an actor kind into test/fixtures/histories/<kind>/<name>.json.
// Run when a new scenario is worth keeping: `npx tsx test/tools/recordHistory.ts demo`.
// Existing files are never overwritten: a recorded history is a promise to keep accepting it.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ActorRuntime } from '../../actors/runtime/actorRuntime.js';
import { InMemoryEventStore } from '../../events/inMemoryEventStore.js';
import { createDemoRuntime } from '../harness/demoRuntime.js';

const scenarios: Record<string, (runtime: ActorRuntime) => Promise<string>> = {
  completed: async (runtime) => {
    const { id } = await runtime.create('demo', 'start', { steps: 3, intervalMs: 1, label: 'golden' }, { requestId: 'golden-completed' });
    await runtime.execute('demo', id, 'note', { text: 'a note while waiting' });
    return id;
  },
  failed: async (runtime) =>
    (await runtime.create('demo', 'start', { steps: 3, intervalMs: 1, failAtStep: 2 }, { requestId: 'golden-failed' })).id,
  cancelled: async (runtime) => {
    const { id } = await runtime.create('demo', 'start', { steps: 3, intervalMs: 60_000 }, { requestId: 'golden-cancelled' });
    await runtime.execute('demo', id, 'cancel', { reason: 'operator asked' });
    return id;
  },
};

const kind = process.argv[2] ?? 'demo';
const folder = join('test', 'fixtures', 'histories', kind);
mkdirSync(folder, { recursive: true });
for (const [name, scenario] of Object.entries(scenarios)) {
  const file = join(folder, `${name}.json`);
  if (existsSync(file)) continue;
  const store = new InMemoryEventStore();
  const runtime = createDemoRuntime(store);
  const id = await scenario(runtime);
  for (let i = 0; i < 500 && !(await store.readLast('demo', id))?.final; i++) await new Promise((r) => setTimeout(r, 5));
  await runtime.stop(100);
  const events = await store.readStream('demo', id);
  const last = events.at(-1);
  writeFileSync(file, `${JSON.stringify({ kind, id, finalState: last?.state, events }, null, 2)}\n`);
  console.log(`recorded ${file}: ${events.length} events, ends ${last?.state}`);
}
