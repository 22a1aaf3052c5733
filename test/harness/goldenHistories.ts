import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initialTransition, transition, type AnyMachineSnapshot } from 'xstate';
import { describe, expect, it } from 'vitest';
import type { ActorDefinition } from '../../actors/runtime/actorDefinition.js';
import { createPureTransitions } from '../../actors/runtime/pureTransition.js';
import { rehydrate, toMachineEvent } from '../../actors/runtime/rehydrate.js';
import { stateOf } from '../../actors/runtime/stateOf.js';
import type { RecordedEvent } from '../../events/envelope.js';
import { repoRoot } from './daqflowProcess.js';

interface GoldenHistory {
  readonly id: string;
  readonly finalState: string;
  readonly events: RecordedEvent[];
}

/** The folder of a kind's recorded histories. */
export const goldenHistoryFolder = (kind: string): string => join(repoRoot, 'test', 'fixtures', 'histories', kind);

const readHistory = (folder: string, file: string): GoldenHistory =>
  JSON.parse(readFileSync(join(folder, file), 'utf8')) as GoldenHistory;

/** Histories broken on purpose, each in a way replay must refuse rather than fold to something else. */
const brokenVariants = (history: GoldenHistory): Array<[string, RecordedEvent[]]> => {
  const events = history.events;
  const last = events[events.length - 1]!;
  const first = events[0]!;
  return [
    // A machine that no longer leads where it once did: the recorded state disagrees.
    ['the last event records a state the machine never reaches', [...events.slice(0, -1), { ...last, state: `${last.state}-not-a-state` }]],
    // A lost event: the stream skips a version.
    [
      'an event is missing (version gap)',
      events.length > 2 ? [first, ...events.slice(2)] : [first, { ...last, version: first.version + 2 }],
    ],
    // The creating event again, after the actor has left its initial state.
    [
      'the creating event is stored again at the end',
      [...events, { ...first, id: `${first.id}-again`, version: last.version + 1, position: last.position + 1 }],
    ],
  ];
};

/**
 * Replays the recorded histories of a kind (test/fixtures/histories/<kind>, recorded with
 * test/tools/recordHistory.ts): a machine change must keep folding every one of them to the states
 * and summaries it recorded, after every event, or actors stored by an older daqflow would be
 * stranded. `expected` names the files that must be there.
 *
 * Each history is also folded by xstate's own `transition()` beside daqflow's shared-scope
 * transitions (actors/runtime/pureTransition.ts), which must agree on state, context and the
 * actions asked for at every step; and broken copies of it must fail with REPLAY_INCOMPATIBLE.
 */
export const describeGoldenHistories = (definition: ActorDefinition, expected: readonly string[]): void => {
  const folder = goldenHistoryFolder(definition.kind);
  const files = readdirSync(folder).filter((f) => f.endsWith('.json'));
  describe(`${definition.kind} machine accepts its recorded histories`, () => {
    it(`has them: ${expected.join(', ')}`, () => {
      expect(files.map((f) => f.replace(/\.json$/, '')).sort()).toEqual([...expected].sort());
    });
    for (const file of files) {
      it(file, () => {
        const history = readHistory(folder, file);
        for (let upTo = 1; upTo <= history.events.length; upTo++) {
          const folded = rehydrate(definition, history.id, history.events.slice(0, upTo));
          expect(definition.summary(folded.snapshot as never), `after event ${upTo}`).toEqual(history.events[upTo - 1]?.summary);
        }
        const folded = rehydrate(definition, history.id, history.events);
        expect(stateOf(folded.snapshot)).toBe(history.finalState);
        expect(folded.version).toBe(history.events.length);
      });

      it(`${file}: folds exactly as xstate's transition() does`, () => {
        const history = readHistory(folder, file);
        const machine = definition.machine;
        const ours = createPureTransitions(machine, { id: history.id });
        const [mine0, myActions0] = ours.initial();
        const [theirs0, theirActions0] = initialTransition(machine, { id: history.id });
        const same = (a: AnyMachineSnapshot, b: AnyMachineSnapshot, step: string): void => {
          expect(a.value, step).toEqual(b.value);
          expect(a.context, step).toEqual(b.context);
          expect(a.status, step).toBe(b.status);
        };
        const actions = (list: ReadonlyArray<{ type: string; params?: unknown }>): unknown[] => list.map((a) => [a.type, a.params]);
        same(mine0, theirs0, 'initial');
        expect(actions(myActions0), 'initial').toEqual(actions(theirActions0));
        let [mine, theirs] = [mine0, theirs0];
        for (const event of history.events) {
          const step = `event ${event.version} (${event.type})`;
          const [nextMine, myActions] = ours.next(mine, toMachineEvent(event));
          const [nextTheirs, theirActions] = transition(machine, theirs, toMachineEvent(event) as never);
          same(nextMine, nextTheirs, step);
          expect(actions(myActions), step).toEqual(actions(theirActions));
          expect(stateOf(nextTheirs), step).toBe(event.state);
          [mine, theirs] = [nextMine, nextTheirs];
        }
      });

      for (const [how, broken] of brokenVariants(readHistory(folder, file))) {
        it(`${file}: refused when ${how}`, () => {
          const history = readHistory(folder, file);
          let thrown: unknown;
          try {
            rehydrate(definition, history.id, broken);
          } catch (e) {
            thrown = e;
          }
          expect(thrown, 'replay of a broken history must throw').toBeInstanceOf(Error);
          expect(thrown).toMatchObject({ name: 'ReplayIncompatibleError', code: 'REPLAY_INCOMPATIBLE' });
        });
      }
    }
  });
};
