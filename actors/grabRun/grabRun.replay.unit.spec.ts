import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../events/envelope.js';
import { defineActor } from '../runtime/actorDefinition.js';
import { rehydrate } from '../runtime/rehydrate.js';
import { stateOf } from '../runtime/stateOf.js';
import { grabRunActor } from './grabRun.actor.js';

// Recorded grab runs (test/tools/recordHistory.ts grab) must keep folding to the states and
// summaries they recorded at every step: a run stored by an older daqflow has to resume, be
// cancelled or be replayed by a newer one.
const folder = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'histories', 'grab');
const files = readdirSync(folder).filter((f) => f.endsWith('.json'));

describe('grab-run machine accepts its recorded histories', () => {
  it('has histories to replay: completed after a retry, failed after retries, cancelled, events', () => {
    expect(files.sort()).toEqual(['cancelled.json', 'completedAfterRetry.json', 'events.json', 'failedAfterRetries.json']);
  });
  for (const file of files) {
    it(file, () => {
      const history = JSON.parse(readFileSync(join(folder, file), 'utf8')) as {
        id: string;
        finalState: string;
        events: RecordedEvent[];
      };
      const definition = defineActor(grabRunActor);
      for (let upTo = 1; upTo <= history.events.length; upTo++) {
        const folded = rehydrate(definition, history.id, history.events.slice(0, upTo));
        expect(grabRunActor.summary(folded.snapshot as never), `after event ${upTo}`).toEqual(history.events[upTo - 1]?.summary);
      }
      const folded = rehydrate(definition, history.id, history.events);
      expect(stateOf(folded.snapshot)).toBe(history.finalState);
      expect(folded.version).toBe(history.events.length);
    });
  }
});
