import { createActor, type AnyActorScope, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';

/** One transition's result: the next snapshot and the actions it asks for (not executed). */
export type TransitionResult = [AnyMachineSnapshot, Array<{ type: string; params?: unknown }>];

/**
 * Pure transitions of one machine, like xstate's `initialTransition()`/`transition()`, but
 * sharing one inert actor scope across calls. xstate's functions build a throwaway actor per
 * call, which was most of the cost of folding a long history; the scope executes nothing, so
 * sharing it changes no result.
 */
export const createPureTransitions = (
  machine: AnyStateMachine,
  input: unknown,
): {
  initial(): TransitionResult;
  next(snapshot: AnyMachineSnapshot, event: { type: string }): TransitionResult;
} => {
  const self = createActor(machine, { input });
  let collected: TransitionResult[1] = [];
  const scope = {
    self,
    id: '',
    sessionId: '',
    system: self.system,
    defer: () => undefined,
    logger: () => undefined,
    stopChild: () => undefined,
    emit: () => undefined,
    actionExecutor: (action: { type: string; params?: unknown }) => {
      collected.push(action);
    },
  } as unknown as AnyActorScope;
  const collect = (run: () => AnyMachineSnapshot): TransitionResult => {
    collected = [];
    const snapshot = run();
    return [snapshot, collected];
  };
  return {
    initial: () => collect(() => machine.getInitialSnapshot(scope, input) as AnyMachineSnapshot),
    next: (snapshot, event) => collect(() => machine.transition(snapshot, event, scope) as AnyMachineSnapshot),
  };
};
