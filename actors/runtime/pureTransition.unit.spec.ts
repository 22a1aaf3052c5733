import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initialTransition, transition, type AnyActorScope, type AnyStateMachine } from 'xstate';
import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../events/envelope.js';
import { allActorDefinitions } from '../../adapters/jobs/registry.js';
import { createPureTransitions } from './pureTransition.js';
import { toMachineEvent } from './rehydrate.js';

// createPureTransitions calls xstate's machine methods with an actor scope it builds itself, which
// is xstate's internal contract, not its public API. These specs pin that contract: the xstate
// version, the scope xstate's own transition() builds, how it calls the machine, and which scope
// members a fold of every recorded history reads. When an xstate upgrade fails one of them,
// re-check pureTransition.ts against the new createInertActorScope before widening the pin.
// (That the folds agree with xstate's transition() is checked per kind by the replay specs.)

const root = join(import.meta.dirname, '..', '..');
const readJson = (path: string): Record<string, unknown> => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

/** The members of an actor scope pureTransition.ts provides. */
const scopeMembers = ['actionExecutor', 'defer', 'emit', 'id', 'logger', 'self', 'sessionId', 'stopChild', 'system'];

interface Call {
  readonly method: 'getInitialSnapshot' | 'transition';
  readonly args: unknown[];
}

/** The machine, with its two methods pureTransition.ts calls recorded (and the scope watched). */
const watched = (machine: AnyStateMachine, read?: Set<string>): { machine: AnyStateMachine; calls: Call[] } => {
  const calls: Call[] = [];
  const watch = (scope: AnyActorScope): AnyActorScope =>
    read === undefined
      ? scope
      : new Proxy(scope, {
          get(target, key, receiver) {
            if (typeof key === 'string') read.add(key);
            return Reflect.get(target, key, receiver) as unknown;
          },
        });
  const wrapper = Object.create(machine) as AnyStateMachine & Record<string, unknown>;
  wrapper.getInitialSnapshot = (scope: AnyActorScope, input: unknown) => {
    calls.push({ method: 'getInitialSnapshot', args: [scope, input] });
    return machine.getInitialSnapshot(watch(scope), input);
  };
  wrapper.transition = (snapshot: never, event: never, scope: AnyActorScope) => {
    calls.push({ method: 'transition', args: [snapshot, event, scope] });
    return machine.transition(snapshot, event, watch(scope));
  };
  return { machine: wrapper, calls };
};

const historiesOf = (kind: string): Array<{ id: string; events: RecordedEvent[] }> => {
  const folder = join(root, 'test', 'fixtures', 'histories', kind);
  return readdirSync(folder)
    .filter((f) => f.endsWith('.json'))
    .map((f) => readJson(join(folder, f)) as unknown as { id: string; events: RecordedEvent[] });
};

describe('the xstate internals pureTransition.ts relies on', () => {
  it('xstate is pinned to the minor version they were checked against, and that one is installed', () => {
    const pinned = (readJson(join(root, 'package.json')).dependencies as Record<string, string>).xstate;
    expect(pinned).toBe('~5.33.3');
    const installed = readJson(join(root, 'node_modules', 'xstate', 'package.json')).version as string;
    expect(installed).toMatch(/^5\.33\.\d+$/);
  });

  it("xstate's own transition() and initialTransition() build a scope with exactly the members ours has", () => {
    const demo = allActorDefinitions.find((d) => d.kind === 'demo')!;
    const { machine, calls } = watched(demo.machine);
    // Each call first builds an actor (whose constructor takes an initial snapshot of its own);
    // the call that matters is the last of its kind.
    const [initial] = initialTransition(machine, { id: 'scope-check' });
    const initialCall = calls.filter((c) => c.method === 'getInitialSnapshot').at(-1)!;
    calls.length = 0;
    transition(machine, initial, { type: 'requested', data: { steps: 1, intervalMs: 1 }, time: '2026-01-01T00:00:00.000Z' } as never);
    const transitionCall = calls.find((c) => c.method === 'transition')!;
    expect(initialCall.args).toHaveLength(2);
    expect(initialCall.args[1]).toEqual({ id: 'scope-check' });
    expect(transitionCall.args).toHaveLength(3);
    expect(transitionCall.args[0]).toBe(initial);
    for (const scope of [initialCall.args[0], transitionCall.args[2]]) {
      expect(Object.keys(scope as object).sort()).toEqual(scopeMembers);
      expect(typeof (scope as AnyActorScope).actionExecutor).toBe('function');
    }
  });

  it('our scope has those members, and the machine is called with it as xstate calls it', () => {
    const demo = allActorDefinitions.find((d) => d.kind === 'demo')!;
    const { machine, calls } = watched(demo.machine);
    const ours = createPureTransitions(machine, { id: 'scope-check' });
    calls.length = 0;
    const [initial] = ours.initial();
    ours.next(initial, { type: 'requested', data: { steps: 1, intervalMs: 1 }, time: '2026-01-01T00:00:00.000Z' } as never);
    expect(calls.map((c) => [c.method, c.args.length])).toEqual([
      ['getInitialSnapshot', 2],
      ['transition', 3],
    ]);
    expect(Object.keys(calls[0]!.args[0] as object).sort()).toEqual(scopeMembers);
    expect(calls[1]!.args[2]).toBe(calls[0]!.args[0]);
  });

  it('folding every recorded history reads exactly these scope members', () => {
    const read = new Set<string>();
    for (const definition of allActorDefinitions) {
      for (const history of historiesOf(definition.kind)) {
        const { machine } = watched(definition.machine, read);
        const ours = createPureTransitions(machine, { id: history.id });
        let [snapshot] = ours.initial();
        for (const event of history.events) [snapshot] = ours.next(snapshot, toMachineEvent(event));
      }
    }
    // A new member read here is one xstate's scope gained and ours may lack: check it, then list it.
    expect([...read].sort()).toEqual(['actionExecutor', 'self', 'system']);
  });
});
