import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initialTransition, transition } from 'xstate';
import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../events/envelope.js';
import { demoMachine } from '../demo/index.js';
import { createPureTransitions } from './pureTransition.js';
import { toMachineEvent } from './rehydrate.js';

// The shared-scope transitions must agree with xstate's own pure functions, step by step.
const folder = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'histories', 'demo');

describe('createPureTransitions', () => {
  for (const file of readdirSync(folder).filter((f) => f.endsWith('.json'))) {
    it(`folds ${file} exactly as xstate's transition() does`, () => {
      const { id, events } = JSON.parse(readFileSync(join(folder, file), 'utf8')) as { id: string; events: RecordedEvent[] };
      const ours = createPureTransitions(demoMachine, { id });
      let [mine] = ours.initial();
      let [theirs] = initialTransition(demoMachine, { id });
      expect(mine.value).toEqual(theirs.value);
      for (const event of events) {
        const [nextMine, myActions] = ours.next(mine, toMachineEvent(event));
        const [nextTheirs, theirActions] = transition(demoMachine, theirs, toMachineEvent(event) as never);
        expect(nextMine.value).toEqual(nextTheirs.value);
        expect(nextMine.context).toEqual(nextTheirs.context);
        expect(myActions.map((a) => [a.type, a.params])).toEqual(theirActions.map((a) => [a.type, a.params]));
        [mine, theirs] = [nextMine, nextTheirs];
      }
      expect(mine.status).toBe(theirs.status);
    });
  }
});
