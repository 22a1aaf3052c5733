import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../events/envelope.js';
import { defineActor } from '../runtime/actorDefinition.js';
import { rehydrate } from '../runtime/rehydrate.js';
import { stateOf } from '../runtime/stateOf.js';
import { scheduleActor } from './schedule.actor.js';

// Recorded histories must keep folding to the states and summaries they recorded: the summary
// holds nextFireAt, so a change in how fire times are computed (croner, a zone rule) shows here.
const folder = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'histories', 'schedule');
const files = readdirSync(folder).filter((f) => f.endsWith('.json'));

describe('schedule machine accepts its recorded histories', () => {
  it('has histories to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(2);
  });
  for (const file of files) {
    it(file, () => {
      const history = JSON.parse(readFileSync(join(folder, file), 'utf8')) as {
        id: string;
        finalState: string;
        events: RecordedEvent[];
      };
      const definition = defineActor(scheduleActor);
      for (let upTo = 1; upTo <= history.events.length; upTo++) {
        const folded = rehydrate(definition, history.id, history.events.slice(0, upTo));
        expect(scheduleActor.summary(folded.snapshot as never)).toEqual(history.events[upTo - 1]?.summary);
      }
      const folded = rehydrate(definition, history.id, history.events);
      expect(stateOf(folded.snapshot)).toBe(history.finalState);
      expect(folded.version).toBe(history.events.length);
    });
  }
});
