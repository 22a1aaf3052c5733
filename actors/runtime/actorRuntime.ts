import { effectFailedData } from './effectFailed.js';
import type { AnyMachineSnapshot } from 'xstate';
import type { EventEnvelope, RecordedEvent } from '../../events/envelope.js';
import { requestIdSchema, streamNameOf, tokenPattern } from '../../events/envelope.js';
import {
  DaqflowError,
  isDaqflowError,
  isDuplicateEventError,
  isVersionConflictError,
  UnknownActorError,
  ValidationError,
  VersionConflictError,
  WrongStateError,
} from '../../events/errors.js';
import type { EventSchemas } from '../../events/eventSchemas.js';
import type { EventStore } from '../../events/eventStore.js';
import type {
  ActorDefinition,
  Deadline,
  EffectContext,
  EffectHandlers,
  EffectRequest,
  EventInput,
  MachineEvent,
} from './actorDefinition.js';
import { KeyedMutex } from './keyedMutex.js';
import { soleOwnership, type Ownership } from './ownership.js';
import { silentLogger, type Logger } from './logger.js';
import { createPureTransitions } from './pureTransition.js';
import { rehydrate, toMachineEvent, type Rehydrated } from './rehydrate.js';
import { isFinal, stateOf } from './stateOf.js';

/** What a command or query answers about an actor. */
export interface ActorView {
  readonly kind: string;
  readonly id: string;
  readonly state: string;
  readonly final: boolean;
  readonly version: number;
  /**
   * Stream position of the event behind this view (0 for an actor with none): a client that
   * waits for the projections to reach it reads its own write there.
   */
  readonly position: number;
  readonly summary: Record<string, unknown>;
  /** The definition's `details`: live views only (a first answer read back from an event has none). */
  readonly details?: Record<string, unknown>;
  /** True when the command had been applied before (same request id): this is its first answer. */
  readonly duplicate?: boolean;
}

export interface CommandMeta {
  /** Client request id: makes the command idempotent. */
  readonly requestId?: string;
  readonly correlationId?: string;
  readonly causationId?: string;
}

export interface ActorRuntimeOptions {
  readonly store: EventStore;
  readonly schemas: EventSchemas;
  readonly definitions: readonly ActorDefinition[];
  /** Effect implementations by actor kind, then action name. */
  readonly effects?: Readonly<Record<string, EffectHandlers>>;
  readonly logger?: Logger;
  readonly clock?: () => Date;
  /** New ids: for actors (given the request id, must be derived from it), events, correlations. */
  readonly newId: (seed?: string) => string;
  /** Attempts when another writer appended first (default 5). */
  readonly maxAttempts?: number;
  /**
   * Which actors this process runs effects and deadlines for (default: all of them). Actors
   * owned elsewhere still take commands here; their owner acts on what is appended.
   */
  readonly ownership?: Ownership;
}

interface Hosted extends Rehydrated {
  readonly kind: string;
  readonly id: string;
  timers: Map<string, { at: string; timer: NodeJS.Timeout }>;
}

type Origin =
  | { readonly kind: 'command'; readonly name: string; readonly meta: CommandMeta }
  | { readonly kind: 'internal'; readonly key: string; readonly causationId: string | null };

/** Tries to record an outcome or deadline event that fails for a reason other than an unreachable store (about five minutes in all). */
const INTERNAL_DISPATCH_ATTEMPTS = 15;

// setTimeout overflows past 2^31-1 ms (~24.8 days); longer deadlines re-arm when that elapses.
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Hosts actors of every registered kind. A command is validated, becomes a machine event, the
 * pure transition is computed, the transition is appended as ONE event with the actor's
 * expected version, and only then are its actions executed as effects. Effect outcomes and
 * passed deadlines come back through the same path as new events.
 */
export class ActorRuntime {
  private readonly store: EventStore;
  private readonly schemas: EventSchemas;
  private readonly definitions = new Map<string, ActorDefinition>();
  private readonly effects: Readonly<Record<string, EffectHandlers>>;
  private readonly logger: Logger;
  private readonly clock: () => Date;
  private readonly newId: (seed?: string) => string;
  private readonly maxAttempts: number;
  private readonly ownership: Ownership;
  private readonly hosted = new Map<string, Hosted>();
  private readonly mutex = new KeyedMutex();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly abort = new AbortController();
  /** Per actor: aborted when the actor reaches a final state, so its effects in flight stop. */
  private readonly actorAborts = new Map<string, AbortController>();
  private stopped = false;

  constructor(options: ActorRuntimeOptions) {
    this.store = options.store;
    this.schemas = options.schemas;
    this.effects = options.effects ?? {};
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? (() => new Date());
    this.newId = options.newId;
    this.maxAttempts = options.maxAttempts ?? 5;
    this.ownership = options.ownership ?? soleOwnership;
    for (const definition of options.definitions) {
      this.definitions.set(definition.kind, definition);
      this.schemas.register(definition.kind, definition.eventSchemas);
    }
  }

  /** Kinds this runtime hosts. */
  kinds(): string[] {
    return [...this.definitions.keys()];
  }

  /**
   * Brings back every actor that had not finished: rebuilt from its events, deadlines armed
   * (those that passed while down fire now), and the effects its state waits on re-issued.
   */
  async start(): Promise<{ recovered: number }> {
    const pending: Array<{ kind: string; id: string }> = [];
    for await (const head of this.store.readHeads()) {
      if (!head.final && this.definitions.has(head.actorKind)) {
        pending.push({ kind: head.actorKind, id: head.actorId });
      }
    }
    const owned = await this.ownership.claimAtStart(pending);
    let recovered = 0;
    const queue = [...owned];
    const worker = async (): Promise<void> => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        if (await this.adopt(next.kind, next.id)) recovered++;
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    this.logger.info({ recovered, unfinished: pending.length, kinds: this.kinds() }, 'runtime started');
    return { recovered };
  }

  /**
   * Takes over an actor whose lease this process now holds: rebuilt from its events (whatever was
   * cached of it before is dropped), deadlines armed, and the effects its state waits on issued
   * again by its definition's `recover()`. False when it could not be read.
   */
  async adopt(kind: string, id: string): Promise<boolean> {
    try {
      await this.mutex.run(streamNameOf(kind, id), async () => {
        this.evict(kind, id);
        const hosted = await this.load(kind, id);
        if (hosted.version === 0 || isFinal(hosted.snapshot)) {
          this.ownership.finished(kind, id);
          return;
        }
        this.armDeadlines(hosted);
        const definition = this.definitionOf(kind);
        // Each request its own key: outcomes of two recovered effects must not dedupe each other.
        for (const [index, request] of (definition.recover?.(hosted.snapshot as never) ?? []).entries()) {
          this.runEffect(hosted, request, hosted.version, `recover.${hosted.version}.${index}`);
        }
      });
      return true;
    } catch (e) {
      this.logger.error({ err: e, kind, id }, 'actor could not be recovered');
      return false;
    }
  }

  /**
   * Gives an actor up at once (its lease is lost or about to be): its effects in flight are told
   * to stop and their outcomes are no longer recorded, its deadlines are disarmed.
   */
  release(kind: string, id: string): void {
    const key = streamNameOf(kind, id);
    this.actorAborts.get(key)?.abort(new Error(`${kind} ${id} is no longer owned by this process`));
    this.actorAborts.delete(key);
    this.evict(kind, id);
  }

  /**
   * The store holds `version` of an actor (seen on the event stream): when this process owns it
   * and has not folded that far, the transitions another process appended are folded now and their
   * effects run here.
   */
  async follow(kind: string, id: string, version: number): Promise<void> {
    if (this.stopped || !this.definitions.has(kind) || !this.ownership.owns(kind, id)) return;
    const key = streamNameOf(kind, id);
    if ((this.hosted.get(key)?.version ?? 0) >= version) return;
    await this.mutex.run(key, async () => {
      if ((this.hosted.get(key)?.version ?? 0) >= version) return;
      if (!this.hosted.has(key)) {
        // Owned but not held (claimed moments ago and its adoption still queued): adoption reads it all.
        return;
      }
      await this.load(kind, id, true);
    });
  }

  /** Unfinished actors this process owns and holds, by kind. */
  ownedCounts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const hosted of this.hosted.values()) {
      if (!this.ownership.owns(hosted.kind, hosted.id)) continue;
      counts[hosted.kind] = (counts[hosted.kind] ?? 0) + 1;
    }
    return counts;
  }

  /** Stops timers and waits (up to `graceMs`) for effects in flight; later outcomes are dropped. */
  async stop(graceMs = 5_000): Promise<void> {
    this.stopped = true;
    for (const hosted of this.hosted.values()) {
      for (const { timer } of hosted.timers.values()) clearTimeout(timer);
      hosted.timers.clear();
    }
    this.abort.abort();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise((r) => (timer = setTimeout(r, graceMs))),
    ]);
    clearTimeout(timer);
  }

  /** Creates an actor with its creating command; a request id makes a retry return the first answer. */
  async create(kind: string, commandName: string, payload: unknown, meta: CommandMeta = {}): Promise<ActorView> {
    const definition = this.definitionOf(kind);
    const spec = definition.commands[commandName];
    if (!spec?.creates) {
      throw new ValidationError(`${commandName} does not create a ${kind} actor`);
    }
    if (meta.requestId !== undefined) checkRequestId(meta.requestId);
    const id = this.newId(meta.requestId === undefined ? undefined : `${kind}:${meta.requestId}`);
    return this.execute(kind, id, commandName, payload, meta);
  }

  /**
   * The first answer of a creating command sent with `requestId`, or undefined when no actor was
   * created with it. Lets a caller answer a retry before doing again what the first request did
   * before reaching the runtime (resolving a grab's window, asking the data logger).
   */
  async findCreated(kind: string, requestId: string): Promise<ActorView | undefined> {
    this.definitionOf(kind);
    checkRequestId(requestId);
    const id = this.newId(`${kind}:${requestId}`);
    return this.mutex.run(streamNameOf(kind, id), async () => {
      const hosted = await this.load(kind, id, true);
      const version = hosted.commandIds.get(requestId);
      return version === undefined ? undefined : this.firstAnswer(kind, id, version);
    });
  }

  /** Sends a command to an existing actor (or the creating command to a new id). */
  async execute(
    kind: string,
    id: string,
    commandName: string,
    payload: unknown,
    meta: CommandMeta = {},
  ): Promise<ActorView> {
    const definition = this.definitionOf(kind);
    checkId(kind, id);
    const spec = definition.commands[commandName];
    if (!spec) {
      throw new ValidationError(`${kind} has no command ${commandName}`, [
        { path: ['command'], message: `known: ${Object.keys(definition.commands).join(', ')}` },
      ]);
    }
    if (meta.requestId !== undefined) checkRequestId(meta.requestId);
    const parsed = spec.schema.safeParse(payload);
    if (!parsed.success) {
      throw new ValidationError(`invalid ${kind} ${commandName}: ${summarizeIssues(parsed.error.issues)}`, parsed.error.issues);
    }
    const input = spec.toEvent(parsed.data as never);
    return this.dispatch(kind, id, input, { kind: 'command', name: commandName, meta }, spec.creates === true);
  }

  /** The actor's current view, read through to the store so that other writers are seen. */
  async get(kind: string, id: string): Promise<ActorView> {
    this.definitionOf(kind);
    checkId(kind, id);
    return this.mutex.run(streamNameOf(kind, id), async () => {
      const hosted = await this.load(kind, id, true);
      if (hosted.version === 0) throw new UnknownActorError(kind, id);
      return this.viewOf(hosted);
    });
  }

  /** The live snapshot held in memory, without reading the store (undefined when not held). */
  peek(kind: string, id: string): AnyMachineSnapshot | undefined {
    return this.hosted.get(streamNameOf(kind, id))?.snapshot;
  }

  /** Number of actors held in memory (unfinished ones, and finished ones until evicted). */
  size(): number {
    return this.hosted.size;
  }

  private definitionOf(kind: string): ActorDefinition {
    const definition = this.definitions.get(kind);
    if (!definition) {
      throw new DaqflowError('UNKNOWN_ACTOR_KIND', `no actor kind ${kind} (known: ${this.kinds().join(', ')})`, { kind });
    }
    return definition;
  }

  private dispatch(
    kind: string,
    id: string,
    input: EventInput,
    origin: Origin,
    creates = false,
  ): Promise<ActorView> {
    return this.mutex.run(streamNameOf(kind, id), () => this.transitionOnce(kind, id, input, origin, creates));
  }

  private async transitionOnce(
    kind: string,
    id: string,
    input: EventInput,
    origin: Origin,
    creates: boolean,
  ): Promise<ActorView> {
    const definition = this.definitionOf(kind);
    const requestId = origin.kind === 'command' ? origin.meta.requestId : undefined;
    for (let attempt = 1; ; attempt++) {
      const hosted = await this.load(kind, id, attempt > 1);
      const answered = requestId === undefined ? undefined : hosted.commandIds.get(requestId);
      if (answered !== undefined) return this.firstAnswer(kind, id, answered);
      if (creates && hosted.version > 0) {
        throw new DaqflowError('WRONG_STATE', `${kind} ${id} exists already`, { kind, id });
      }
      if (!creates && hosted.version === 0) {
        if (origin.kind === 'internal') return this.viewOf(hosted);
        throw new UnknownActorError(kind, id);
      }
      // Fencing: an outcome or deadline of an actor this process no longer owns is not recorded;
      // its new owner re-issued the work.
      if (origin.kind === 'internal' && !this.ownership.owns(kind, id)) return this.viewOf(hosted);
      const time = this.clock().toISOString();
      const machineEvent: MachineEvent = { type: input.type, data: input.data, time };
      if (!hosted.snapshot.can(machineEvent)) {
        if (origin.kind === 'internal') {
          // A late effect result or a deadline the machine has moved past: nothing to record.
          this.logger.debug({ kind, id, type: input.type, state: stateOf(hosted.snapshot) }, 'event ignored');
          return this.viewOf(hosted);
        }
        throw new WrongStateError(kind, id, stateOf(hosted.snapshot), origin.name);
      }
      const [next, actions] = createPureTransitions(definition.machine, { id }).next(hosted.snapshot, machineEvent);
      const correlationId =
        hosted.correlationId ??
        (origin.kind === 'command' ? origin.meta.correlationId : undefined) ??
        this.newId();
      const envelope = this.schemas.validate<EventEnvelope>({
        id: this.newId(),
        type: input.type,
        schemaVersion: this.schemas.currentVersion(kind, input.type),
        actorKind: kind,
        actorId: id,
        version: hosted.version + 1,
        time,
        correlationId,
        causationId: origin.kind === 'command' ? (origin.meta.causationId ?? null) : origin.causationId,
        commandId: requestId ?? null,
        previousState: hosted.version === 0 ? null : stateOf(hosted.snapshot),
        state: stateOf(next),
        final: isFinal(next),
        summary: definition.summary(next as never),
        data: input.data,
      });
      const idempotencyKey =
        requestId !== undefined
          ? `${kind}.${id}.request.${requestId}`
          : origin.kind === 'internal'
            ? `${kind}.${id}.${origin.key}`
            : undefined;
      // A new actor's lease is claimed beside its first append, not after it.
      const claim = hosted.version === 0 ? this.ownership.claimNew(kind, id, { type: input.type, data: input.data }) : undefined;
      let appended;
      try {
        appended = await this.store.append(envelope, idempotencyKey === undefined ? {} : { idempotencyKey });
      } catch (e) {
        // Claimed an actor another process created first: it is ours to run, as a takeover.
        if (claim) void claim.then((owner) => (owner ? this.track(this.adopt(kind, id), hosted, 'adoption') : undefined));
        if (isVersionConflictError(e) || isDuplicateEventError(e)) {
          // Someone else wrote first (another process, or this request before a crash):
          // re-read and decide again; the command-id check above answers a retried request.
          this.evict(kind, id);
          if (isDuplicateEventError(e) && origin.kind === 'internal') {
            return this.viewOf(await this.load(kind, id));
          }
          if (attempt < this.maxAttempts) continue;
          if (isVersionConflictError(e)) throw e;
          throw new VersionConflictError(streamNameOf(kind, id), hosted.version, undefined, { cause: e });
        }
        throw e;
      }
      const updated: Hosted = {
        ...hosted,
        snapshot: next,
        version: envelope.version,
        position: appended.position,
        correlationId,
        commandIds: requestId !== undefined ? new Map([...hosted.commandIds, [requestId, envelope.version]]) : hosted.commandIds,
      };
      this.hosted.set(streamNameOf(kind, id), updated);
      const owner = claim ? await claim : this.ownership.owns(kind, id);
      this.logger.info(
        {
          kind,
          id,
          from: envelope.previousState,
          to: envelope.state,
          event: envelope.type,
          version: envelope.version,
          correlationId,
        },
        `${kind} ${id}: ${envelope.previousState ?? '(new)'} -> ${envelope.state} on ${envelope.type}`,
      );
      // Not the owner: the transition is on record, and the owner, following the stream, acts on it.
      if (owner) this.acted(updated, envelope.version, envelope.final, actions);
      else if (envelope.final) this.evict(kind, id);
      return this.viewOf(updated);
    }
  }

  /** What the owner does once a transition is on record: deadlines, effects, and at the end the lease. */
  private acted(hosted: Hosted, version: number, final: boolean, actions: ReadonlyArray<{ type: string; params?: unknown }>): void {
    const { kind, id } = hosted;
    this.armDeadlines(hosted);
    if (final) {
      // Work the actor no longer waits for (a fetch when it is cancelled) is told to stop; the
      // final transition's own actions (a clean-up) get a fresh signal below.
      this.actorAborts.get(streamNameOf(kind, id))?.abort(new Error(`${kind} ${id} is ${stateOf(hosted.snapshot)}`));
      this.actorAborts.delete(streamNameOf(kind, id));
    }
    actions.forEach((action, index) => {
      const request: EffectRequest = { type: action.type, params: action.params };
      this.runEffect(hosted, request, version, `effect.${version}.${index}`);
    });
    if (final) {
      this.evict(kind, id);
      this.ownership.finished(kind, id);
    }
  }

  /**
   * Folds, one by one, transitions another process appended to an actor this process owns, and
   * acts on each as if it had appended it (the same effect keys, so an outcome recorded twice is
   * a duplicate).
   */
  private foldForeign(cached: Hosted, events: readonly RecordedEvent[]): Hosted {
    const definition = this.definitionOf(cached.kind);
    const transitions = createPureTransitions(definition.machine, { id: cached.id });
    let current = cached;
    for (const event of events) {
      const [, actions] = transitions.next(current.snapshot, toMachineEvent(event));
      const folded = rehydrate(definition, cached.id, [event], current);
      current = { ...folded, kind: cached.kind, id: cached.id, timers: cached.timers };
      if (!event.final) this.hosted.set(streamNameOf(cached.kind, cached.id), current);
      this.logger.debug({ kind: cached.kind, id: cached.id, event: event.type, version: event.version }, 'owner acts on a transition appended elsewhere');
      this.acted(current, event.version, event.final, actions);
      if (event.final) break;
    }
    return current;
  }

  private async load(kind: string, id: string, refresh = false): Promise<Hosted> {
    const key = streamNameOf(kind, id);
    const cached = this.hosted.get(key);
    const definition = this.definitionOf(kind);
    if (cached && !refresh) return cached;
    const events = await this.store.readStream(kind, id, (cached?.version ?? 0) + 1);
    if (cached && events.length > 0 && !this.stopped && this.ownership.owns(kind, id)) return this.foldForeign(cached, events);
    const folded = rehydrate(definition, id, events, cached);
    const hosted: Hosted = { ...folded, kind, id, timers: cached?.timers ?? new Map() };
    if (hosted.version > 0 && !isFinal(hosted.snapshot)) this.hosted.set(key, hosted);
    else this.evict(kind, id);
    return hosted;
  }

  /**
   * The answer a request got when it was first applied: the actor as the event it produced
   * left it (every event records state and summary), whatever happened to the actor since.
   */
  private async firstAnswer(kind: string, id: string, version: number): Promise<ActorView> {
    const [event] = await this.store.readStream(kind, id, version);
    if (!event || event.version !== version) throw new UnknownActorError(kind, id);
    return {
      kind,
      id,
      state: event.state,
      final: event.final,
      version: event.version,
      position: event.position,
      summary: event.summary,
      duplicate: true,
    };
  }

  private evict(kind: string, id: string): void {
    const key = streamNameOf(kind, id);
    const hosted = this.hosted.get(key);
    if (!hosted) return;
    for (const { timer } of hosted.timers.values()) clearTimeout(timer);
    this.hosted.delete(key);
  }

  private viewOf(hosted: Rehydrated & { kind: string; id: string }): ActorView {
    const definition = this.definitionOf(hosted.kind);
    return {
      kind: hosted.kind,
      id: hosted.id,
      state: hosted.version === 0 ? 'new' : stateOf(hosted.snapshot),
      final: isFinal(hosted.snapshot),
      version: hosted.version,
      position: hosted.position,
      summary: definition.summary(hosted.snapshot as never),
      ...(definition.details && hosted.version > 0 ? { details: definition.details(hosted.snapshot as never) } : {}),
    };
  }

  private armDeadlines(hosted: Hosted): void {
    if (this.stopped || !this.ownership.owns(hosted.kind, hosted.id)) return;
    const deadlines = deadlinesOf(hosted.snapshot);
    for (const [name, armed] of hosted.timers) {
      if (deadlines[name]?.at !== armed.at) {
        clearTimeout(armed.timer);
        hosted.timers.delete(name);
      }
    }
    for (const [name, deadline] of Object.entries(deadlines)) {
      if (hosted.timers.has(name)) continue;
      const arm = (): void => {
        const delay = Math.max(0, Date.parse(deadline.at) - this.clock().getTime());
        const timer = setTimeout(() => {
          if (Date.parse(deadline.at) > this.clock().getTime()) return arm();
          hosted.timers.delete(name);
          this.track(
            this.dispatchRetrying(hosted.kind, hosted.id, deadline.event, {
              kind: 'internal',
              key: `deadline.${name}.${deadline.at}`,
              causationId: null,
            }),
            hosted,
            `deadline ${name}`,
          );
        }, Math.min(delay, MAX_TIMER_MS));
        hosted.timers.set(name, { at: deadline.at, timer });
      };
      arm();
    }
  }

  private runEffect(hosted: Hosted, request: EffectRequest, version: number, key: string): void {
    if (this.stopped) return;
    if (request.type.startsWith('xstate.')) return;
    const handler = this.effects[hosted.kind]?.[request.type];
    if (!handler) {
      this.logger.warn({ kind: hosted.kind, id: hosted.id, effect: request.type }, 'no implementation for effect');
      return;
    }
    // A final actor's own clean-up runs to its end; an unfinished actor's effects stop with it.
    let signal = this.abort.signal;
    if (!isFinal(hosted.snapshot)) {
      const actorKey = streamNameOf(hosted.kind, hosted.id);
      let actorAbort = this.actorAborts.get(actorKey);
      if (!actorAbort) {
        actorAbort = new AbortController();
        this.actorAborts.set(actorKey, actorAbort);
      }
      signal = AbortSignal.any([this.abort.signal, actorAbort.signal]);
    }
    const causationId = `${hosted.kind}.${hosted.id}.${version}`;
    let reports = 0;
    const context: EffectContext = {
      kind: hosted.kind,
      id: hosted.id,
      version,
      correlationId: hosted.correlationId ?? '',
      signal,
      report: async (event) => {
        if (this.stopped || signal.aborted) return false;
        const before = this.hosted.get(streamNameOf(hosted.kind, hosted.id))?.version;
        const view = await this.dispatchRetrying(hosted.kind, hosted.id, event, {
          kind: 'internal',
          key: `${key}.report.${reports++}`,
          causationId,
        });
        return view !== undefined && view.version !== before && view.version > version;
      },
    };
    const run = (async () => {
      let outcomes: readonly EventInput[];
      try {
        const result = await handler(request.params as never, context);
        outcomes = result === undefined ? [] : Array.isArray(result) ? result : [result as EventInput];
      } catch (e) {
        this.logger.warn({ err: e, kind: hosted.kind, id: hosted.id, effect: request.type }, 'effect failed');
        outcomes = [{ type: 'effectFailed', data: effectFailedData(request.type, e) }];
      }
      if (this.stopped || signal.aborted) return;
      for (const [index, outcome] of outcomes.entries()) {
        await this.dispatchRetrying(hosted.kind, hosted.id, outcome, {
          kind: 'internal',
          key: `${key}.${index}`,
          causationId,
        });
      }
    })();
    this.track(run, hosted, `effect ${request.type}`);
  }

  /**
   * Records an effect's outcome or a passed deadline, retrying while the store cannot be reached:
   * dropping it would leave the actor waiting for something that already happened until the next
   * restart. Retrying is safe: the event's idempotency key makes a second append a duplicate.
   * An unreachable store is waited for as long as this runtime runs (it says so once per event,
   * then every minute); other failures are given up after INTERNAL_DISPATCH_ATTEMPTS.
   */
  private async dispatchRetrying(kind: string, id: string, input: EventInput, origin: Origin): Promise<ActorView | undefined> {
    let lastLogged = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        const view = await this.dispatch(kind, id, input, origin);
        if (attempt > 1) this.logger.info({ kind, id, event: input.type, attempt }, 'the store answered again: event on record, or no longer needed by the actor');
        return view;
      } catch (e) {
        const unavailable = isDaqflowError(e) && e.code === 'STORE_UNAVAILABLE';
        const retryable = !isDaqflowError(e) || unavailable || e.code === 'VERSION_CONFLICT';
        if (this.stopped || !retryable || (!unavailable && attempt >= INTERNAL_DISPATCH_ATTEMPTS)) throw e;
        const delay = Math.min(unavailable ? 5_000 : 30_000, 250 * 2 ** Math.min(attempt - 1, 16));
        const now = Date.now();
        const line = { err: e, kind, id, event: input.type, attempt, retryInMs: delay };
        if (!unavailable || now - lastLogged >= 60_000) {
          lastLogged = now;
          this.logger.warn(line, 'could not record an event: retrying');
        } else {
          this.logger.debug(line, 'could not record an event: retrying');
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.abort.signal.addEventListener(
            'abort',
            () => {
              clearTimeout(timer);
              resolve();
            },
            { once: true },
          );
        });
        if (this.stopped) return undefined;
      }
    }
  }

  private track(work: Promise<unknown>, hosted: Hosted, what: string): void {
    this.inFlight.add(work);
    work
      .catch((e: unknown) => {
        if (!this.stopped) this.logger.error({ err: e, kind: hosted.kind, id: hosted.id }, `${what} could not be recorded`);
      })
      .finally(() => this.inFlight.delete(work));
  }
}

const deadlinesOf = (snapshot: AnyMachineSnapshot): Record<string, Deadline> => {
  const context: unknown = snapshot.context;
  if (context && typeof context === 'object' && 'deadlines' in context) {
    return (context as { deadlines?: Record<string, Deadline> }).deadlines ?? {};
  }
  return {};
};

const checkId = (kind: string, id: string): void => {
  if (!tokenPattern.test(id)) {
    throw new ValidationError(`invalid ${kind} id ${JSON.stringify(id).slice(0, 80)}: use 1-128 of A-Z a-z 0-9 _ -`);
  }
};

const checkRequestId = (requestId: string): void => {
  const checked = requestIdSchema.safeParse(requestId);
  if (!checked.success) throw new ValidationError(checked.error.issues[0]?.message ?? 'invalid requestId', checked.error.issues);
};

const summarizeIssues = (issues: readonly { path: PropertyKey[]; message: string }[]): string =>
  issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(body)'}: ${i.message}`)
    .join('; ');
