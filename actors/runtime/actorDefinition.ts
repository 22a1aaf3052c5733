import type { AnyStateMachine, SnapshotFrom } from 'xstate';
import type { z } from 'zod';
import type { EventSchema } from '../../events/eventSchemas.js';

/** What every machine event looks like: the stored event's type, its data, and its time. */
export interface MachineEvent<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
  /** ISO 8601 time of the transition; machines read time from here, never from a clock. */
  readonly time: string;
}

/** An event to feed to an actor, before the runtime stamps its time. */
export interface EventInput {
  readonly type: string;
  readonly data: unknown;
}

/**
 * A persisted deadline. Machines keep them in `context.deadlines`; the runtime arms a timer for
 * each, and when one passes (even while the process was down) sends its event.
 */
export interface Deadline {
  readonly at: string;
  readonly event: EventInput;
}

/** A command that clients may send: its payload schema and the machine event it becomes. */
export interface CommandSpec<Payload = unknown> {
  readonly schema: z.ZodType<Payload>;
  toEvent(payload: Payload): EventInput;
  /** True for the command that creates the actor (accepted only when it has no events yet). */
  readonly creates?: boolean;
}

/** A command spec of any payload type, as the runtime holds it. */
export interface AnyCommandSpec {
  readonly schema: z.ZodType;
  toEvent(payload: never): EventInput;
  readonly creates?: boolean;
}

/** A side effect requested by a transition: a named action with params. */
export interface EffectRequest {
  readonly type: string;
  readonly params: unknown;
}

/**
 * An action a machine names for the runtime to carry out as an effect. In the machine it does
 * nothing: the runtime collects the request and runs the kind's handler of the same name after
 * the transition is stored. `Params` is what the handler receives.
 */
export interface EffectAction<Params> {
  (args: unknown, params: Params): undefined;
  readonly effect: true;
}

/** Declares an effect action with its params: `work: effect<WorkParams>()` in a machine's `setup({ actions })`. */
export const effect = <Params>(): EffectAction<Params> =>
  Object.assign((_args: unknown, _params: Params): undefined => undefined, { effect: true as const });

/** The effect actions of one machine, by name (also the ones only `recover` requests). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any params: each declaration keeps its own
export type EffectDeclarations = Readonly<Record<string, EffectAction<any>>>;

/** What an effect handler returns: the events that report its outcome. */
export type EffectOutcome = Promise<EventInput | readonly EventInput[] | void>;

/**
 * The handlers a kind must provide, derived from its machine's effect declarations as Temporal
 * types activities from their definitions: one per effect, params typed; a missing or
 * misspelled one does not compile.
 */
export type EffectHandlersFor<Effects extends EffectDeclarations> = {
  readonly [Name in keyof Effects]: Effects[Name] extends EffectAction<infer Params>
    ? (params: Params, context: EffectContext) => EffectOutcome
    : never;
};

/** True for an action value that is an effect declaration (not an `assign` or other built-in). */
export const isEffectAction = (action: unknown): action is EffectAction<unknown> =>
  typeof action === 'function' && (action as Partial<EffectAction<unknown>>).effect === true;

/**
 * One kind of actor: a pure XState machine plus what the runtime needs to host it. Everything
 * here is pure; effect implementations are given to the runtime separately, by adapters.
 */
export interface ActorDefinition<
  Machine extends AnyStateMachine = AnyStateMachine,
  Effects extends EffectDeclarations = EffectDeclarations,
> {
  readonly kind: string;
  readonly machine: Machine;
  /** The effects the machine may request (its `effect()` actions); adapters implement each. */
  readonly effects: Effects;
  /** Schemas of the events this actor stores, by event type. */
  readonly eventSchemas: Readonly<Record<string, EventSchema>>;
  readonly commands: Readonly<Record<string, AnyCommandSpec>>;
  /** A small JSON view of the actor for status rows and replies; stored in every event. */
  summary(snapshot: SnapshotFrom<Machine>): Record<string, unknown>;
  /**
   * Fields for live replies only (`get`, and the reply to a command), too big to repeat in every
   * event's summary: a grab's whole parameter list, say. Not stored, not in status rows.
   */
  details?(snapshot: SnapshotFrom<Machine>): Record<string, unknown>;
  /**
   * Effects to run again after a restart, for an actor rebuilt in a state that waits on one
   * (the process may have died before the effect's result was stored). Effects must be
   * idempotent for this to be safe.
   */
  recover?(snapshot: SnapshotFrom<Machine>): EffectRequest[];
}

/** Context passed to an effect implementation. */
export interface EffectContext {
  readonly kind: string;
  readonly id: string;
  /** Version of the event whose transition requested the effect. */
  readonly version: number;
  readonly correlationId: string;
  /**
   * Aborted when the runtime stops, and when the actor reaches a final state (a cancel): the
   * effect should stop its I/O; whatever it returns then is dropped.
   */
  readonly signal: AbortSignal;
  /**
   * Records an event while the effect is still running (progress of a long acquisition, a job's
   * state from a poll), through the same path as its outcome: validated, appended, folded. Each
   * report of one effect run has its own idempotency key. Resolves to false when the actor's
   * state did not accept it (it has moved on) or the effect was aborted.
   */
  report(event: EventInput): Promise<boolean>;
}

/** An effect implementation: does the I/O and returns the events that report its outcome. */
export type EffectHandler = (params: never, context: EffectContext) => EffectOutcome;

export type EffectHandlers = Readonly<Record<string, EffectHandler>>;

/** Shorthand for a command spec with inferred payload type. */
export const command = <Payload>(spec: CommandSpec<Payload>): CommandSpec<Payload> => spec;

/**
 * Erases a definition's machine type so definitions of different kinds fit in one list; the
 * runtime only passes each definition snapshots of its own machine.
 */
export const defineActor = <Machine extends AnyStateMachine, Effects extends EffectDeclarations>(
  definition: ActorDefinition<Machine, Effects>,
): ActorDefinition => definition as unknown as ActorDefinition;
