import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../events/envelope.js';
import { defineActor } from '../runtime/actorDefinition.js';
import { rehydrate } from '../runtime/rehydrate.js';
import { stateOf } from '../runtime/stateOf.js';
import { demoActor } from './demo.actor.js';

// Recorded histories must keep folding to the states they recorded: a machine change that
// breaks one would strand every stored actor with such a history.
const folder = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'histories', 'demo');
const files = readdirSync(folder).filter((f) => f.endsWith('.json'));

describe('demo machine accepts its recorded histories', () => {
  it('has histories to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
  });
  for (const file of files) {
    it(file, () => {
      const history = JSON.parse(readFileSync(join(folder, file), 'utf8')) as {
        id: string;
        finalState: string;
        events: RecordedEvent[];
      };
      const folded = rehydrate(defineActor(demoActor), history.id, history.events);
      expect(stateOf(folded.snapshot)).toBe(history.finalState);
      expect(folded.version).toBe(history.events.length);
      expect(demoActor.summary(folded.snapshot as never)).toEqual(history.events.at(-1)?.summary);
    });
  }
});
