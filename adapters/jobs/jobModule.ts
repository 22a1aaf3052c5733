import type { Command } from 'commander';
import type { Kysely } from 'kysely';
import type { Logger as PinoLogger } from 'pino';
import type { AnyStateMachine } from 'xstate';
import {
  defineActor,
  type ActorDefinition,
  type EffectDeclarations,
  type EffectHandlers,
  type EffectHandlersFor,
} from '../../actors/runtime/actorDefinition.js';
import type { ActorRuntime } from '../../actors/runtime/actorRuntime.js';
import type { ActorPlacement } from '../../actors/runtime/ownership.js';
import type { EventStore } from '../../events/eventStore.js';
import type { Database } from '../../projections/database.js';
import type { Projection } from '../../projections/projection.js';
import type { BsreadSource } from '../bsread/bsreadSource.js';
import type { DaqflowConfig } from '../config/config.js';
import type { DataLoggerSource } from '../dataLogger/dataLoggerSource.js';
import type { KindMetricsFactory } from '../http/daqflowMetrics.js';
import type { CommandPreparer } from '../natsApi/actorService.js';
import type { ContextualPreparer, Preparers } from './preparers.js';

/**
 * What a job module is given by the process that hosts it (`startDaqflow`): the configuration,
 * the servers' clients and the shared sources. Parts that exist only once the runtime runs are
 * functions, called when the effect or preparer runs.
 */
export interface JobContext {
  readonly config: DaqflowConfig;
  /** This module's logger (`component` is the stored kind, as in the logs before modules). */
  readonly logger: PinoLogger;
  readonly db: Kysely<Database>;
  readonly store: EventStore;
  /** The data logger grab runs read from. */
  readonly dataLogger: DataLoggerSource;
  /** The bsread stream of this process and its ring buffer. */
  readonly bsread: () => BsreadSource;
  /** This process's id in the presence bucket (once its leases exist). */
  readonly processId: () => string | undefined;
  /** The runtime hosting every kind (bound once it exists). */
  readonly runtime: () => ActorRuntime;
  /** The definitions of every registered kind. */
  readonly definitions: readonly ActorDefinition[];
  /** The preparers of every registered kind, by stored kind then command. */
  readonly preparers: () => Preparers;
}

/**
 * Something a module keeps running beside its actors (a notifier, a sweep of leftovers). The stop
 * is ordered: `requests` ones stop with the request API (they send commands), before the runtime;
 * `effects` ones after the runtime and the writer threads.
 */
export interface JobService {
  readonly name: string;
  readonly stopWith: 'requests' | 'effects';
  stop(): Promise<unknown>;
}

/** What `daqflow status` prints for a kind besides its rows. */
export interface StatusSection {
  readonly title: string;
  /** Rows of the section, by the status options; empty prints nothing. */
  text(db: Kysely<Database>, options: { readonly state?: string | undefined }): Promise<string>;
}

/**
 * One job kind: everything daqflow knows of it, in two folders: `actors/<name>/` (the pure
 * machine, its events, request schemas and planning) and `adapters/jobs/<name>/` (its effects,
 * preparers, CLI and this module). docs/contributing.md shows how to add one.
 */
export interface JobModule {
  /**
   * The one name of the kind: its folders, its NATS subject group (`daqflow.<name>.*`), its
   * service (`daqflow-<name>`) and its logger component. Plural, as the public subjects are.
   */
  readonly name: string;
  /**
   * The kind written into every stored event (`grab` for the `grabs` module). Stored events never
   * change, so neither does this string: it is the machine definition's `kind`, and what the
   * status rows, `status --kind`, `query.list` and a schedule's target name.
   */
  readonly storedKind: string;
  /** The pure machine and what the runtime needs to host it. */
  readonly definition: ActorDefinition;
  /** The request API's service for this kind; absent for a kind only other parts start. */
  readonly service?: { readonly description?: string };
  /** The kind's effects; loaded when the runtime starts. */
  effects(context: JobContext): Promise<EffectHandlers>;
  /** Request preparers by command: bodies resolved against the clock, the data sources, the disk. */
  preparers?(context: JobContext): Promise<Readonly<Record<string, ContextualPreparer>>>;
  /** Preparers for the API in place of {@link preparers} (resolved at request time as they are). */
  apiPreparers?(context: JobContext): Promise<Readonly<Record<string, CommandPreparer>>>;
  /**
   * Which processes with the kind's role may own one of its actors (docs/architecture.md,
   * "Processes"); absent: any of them.
   */
  placement?(context: JobContext): ActorPlacement;
  /** What keeps running beside the actors, started once the API is up. */
  start?(context: JobContext): Promise<readonly JobService[]>;
  /** Projections the kind's events feed besides the status and transition tables. */
  readonly projections?: readonly Projection[];
  /** Adds the kind's CLI commands. */
  registerCli?(program: Command): Promise<void>;
  /** The kind's own Prometheus metrics (`/metrics`), fed by the events of its kind this process appends. */
  readonly metrics?: KindMetricsFactory;
  /** One line of a status row's summary; the summary's first fields otherwise. */
  statusText?(summary: Record<string, unknown>, tty: boolean): string;
  /** A section `daqflow status` prints after the rows when the kind is listed. */
  readonly statusSection?: StatusSection;
}

/**
 * A module as its folder writes it: the definition keeps its machine's type, and the effects must
 * be exactly the handlers its effect actions need (see `EffectHandlersFor`).
 */
export type TypedJobModule<Machine extends AnyStateMachine, Effects extends EffectDeclarations> = Omit<
  JobModule,
  'definition' | 'effects'
> & {
  readonly definition: ActorDefinition<Machine, Effects>;
  effects(context: JobContext): Promise<EffectHandlersFor<Effects>>;
};

/** Checks a module's effects against its machine, then erases its types so modules fit in one list. */
export const defineJobModule = <Machine extends AnyStateMachine, Effects extends EffectDeclarations>(
  module: TypedJobModule<Machine, Effects>,
): JobModule => ({ ...module, definition: defineActor(module.definition), effects: module.effects as JobModule['effects'] });

/** The NATS service name of a module: `daqflow-<name>`. */
export const serviceNameOf = (module: Pick<JobModule, 'name'>): string => `daqflow-${module.name}`;
