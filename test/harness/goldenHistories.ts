import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ActorDefinition } from '../../actors/runtime/actorDefinition.js';
import { rehydrate } from '../../actors/runtime/rehydrate.js';
import { stateOf } from '../../actors/runtime/stateOf.js';
import type { RecordedEvent } from '../../events/envelope.js';
import { repoRoot } from './daqflowProcess.js';

interface GoldenHistory {
  readonly id: string;
  readonly finalState: string;
  readonly events: RecordedEvent[];
}

/**
 * Replays the recorded histories of a kind (test/fixtures/histories/<kind>, recorded with
 * test/tools/recordHistory.ts): a machine change must keep folding every one of them to the states
 * and summaries it recorded, after every event, or actors stored by an older daqflow would be
 * stranded. `expected` names the files that must be there.
 */
export const describeGoldenHistories = (definition: ActorDefinition, expected: readonly string[]): void => {
  const folder = join(repoRoot, 'test', 'fixtures', 'histories', definition.kind);
  const files = readdirSync(folder).filter((f) => f.endsWith('.json'));
  describe(`${definition.kind} machine accepts its recorded histories`, () => {
    it(`has them: ${expected.join(', ')}`, () => {
      expect(files.map((f) => f.replace(/\.json$/, '')).sort()).toEqual([...expected].sort());
    });
    for (const file of files) {
      it(file, () => {
        const history = JSON.parse(readFileSync(join(folder, file), 'utf8')) as GoldenHistory;
        for (let upTo = 1; upTo <= history.events.length; upTo++) {
          const folded = rehydrate(definition, history.id, history.events.slice(0, upTo));
          expect(definition.summary(folded.snapshot as never), `after event ${upTo}`).toEqual(history.events[upTo - 1]?.summary);
        }
        const folded = rehydrate(definition, history.id, history.events);
        expect(stateOf(folded.snapshot)).toBe(history.finalState);
        expect(folded.version).toBe(history.events.length);
      });
    }
  });
};
