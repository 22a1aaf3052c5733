import {
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { allActorsSubject } from './subjects.js';
import { StoreUnavailableError } from '../../events/errors.js';
import { appliedEventStream, compareEventStream } from './compareEventStream.js';
import { StreamMismatchError, toStoreError, type StreamDifference } from './errors.js';
import { withReplicas } from './replicas.js';
import type { NatsConnection } from '@nats-io/nats-core';

export interface EventStreamNames {
  /** JetStream stream name. */
  readonly stream: string;
  /** Subjects of actors are `${subjectPrefix}.${kind}.${id}`. */
  readonly subjectPrefix: string;
}

/** The names production uses. */
export const defaultEventStream: EventStreamNames = {
  stream: 'DAQFLOW_EVENTS',
  subjectPrefix: 'daqflow.events',
};

/** How long the server remembers a Nats-Msg-Id (idempotency key). */
export const duplicateWindowMs = 2 * 60 * 1000;

/** Server error codes: a stream name taken (by a concurrent create), no such stream. */
const streamNameInUse = 10058;
const streamNotFound = 10059;

/** The configuration of the event stream: keep everything, forever, on disk. */
export const eventStreamConfig = (names: EventStreamNames, replicas = 1): StreamConfig =>
  ({
    name: names.stream,
    subjects: [allActorsSubject(names.subjectPrefix)],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_msgs: -1,
    max_bytes: -1,
    max_age: 0,
    max_msgs_per_subject: -1,
    max_msg_size: -1,
    max_consumers: -1,
    num_replicas: replicas,
    duplicate_window: nanos(duplicateWindowMs),
    // Appends look up an actor's head with Direct Get, which needs this.
    allow_direct: true,
  }) as StreamConfig;

export interface EnsureEventStreamOptions {
  /** Replicas of a stream created here (default 1); an existing stream keeps its own. */
  readonly replicas?: number;
  /** Hears the differences daqflow leaves alone (an operator's replicas, placement, limits). */
  readonly onOperatorSettings?: (differences: readonly StreamDifference[]) => void;
  /** The connection of `jsm`: a refusal of the replicas then names the cluster's servers. */
  readonly nc?: NatsConnection;
}

const streamInfo = async (jsm: JetStreamManager, stream: string): Promise<StreamInfo | undefined> => {
  try {
    return await jsm.streams.info(stream);
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === streamNotFound) return undefined;
    throw toStoreError(e, `reading stream ${stream}`);
  }
};

/**
 * Creates the event stream when it is missing. An existing one is never changed here: one that
 * differs in what daqflow needs is refused with StreamMismatchError naming the differences;
 * other differences are the operator's and are handed to `onOperatorSettings`.
 */
export const ensureEventStream = async (
  jsm: JetStreamManager,
  names: EventStreamNames = defaultEventStream,
  options: EnsureEventStreamOptions = {},
): Promise<StreamInfo> => {
  const want = eventStreamConfig(names, options.replicas);
  let info = await streamInfo(jsm, names.stream);
  if (!info) {
    try {
      return await withReplicas(`stream ${names.stream}`, want.num_replicas, () => jsm.streams.add(want), options.nc);
    } catch (e) {
      // Another process created it meanwhile: check that one like any existing stream.
      if (!(e instanceof JetStreamApiError && e.code === streamNameInUse)) throw toStoreError(e, `creating stream ${names.stream}`);
    }
    info = await streamInfo(jsm, names.stream);
    if (!info) throw new StoreUnavailableError(`stream ${names.stream} was reported taken but cannot be read`);
  }
  const differences = compareEventStream(info.config, want);
  const needed = differences.filter((d) => d.needed);
  if (needed.length > 0) throw new StreamMismatchError(names.stream, needed);
  if (differences.length > 0) options.onOperatorSettings?.(differences);
  return info;
};

/** What `daqflow stream check` and `apply` see: the stream on the server, if any, and its differences. */
export interface EventStreamState {
  readonly info?: StreamInfo;
  readonly differences: readonly StreamDifference[];
}

/** Compares the stream on the server with daqflow's configuration, changing nothing. */
export const checkEventStream = async (jsm: JetStreamManager, names: EventStreamNames, replicas?: number): Promise<EventStreamState> => {
  const info = await streamInfo(jsm, names.stream);
  if (!info) return { differences: [] };
  return { info, differences: compareEventStream(info.config, eventStreamConfig(names, replicas ?? info.config.num_replicas)) };
};

/**
 * Creates the stream, or changes an existing one to what daqflow needs, keeping the operator's
 * other settings; replicas change only when `replicas` is given.
 */
export const applyEventStream = async (jsm: JetStreamManager, names: EventStreamNames, replicas?: number): Promise<StreamInfo> => {
  const info = await streamInfo(jsm, names.stream);
  try {
    const what = `stream ${names.stream}`;
    if (!info) return await withReplicas(what, replicas ?? 1, () => jsm.streams.add(eventStreamConfig(names, replicas)));
    const applied = appliedEventStream(info.config, eventStreamConfig(names), replicas);
    return await withReplicas(what, applied.num_replicas, () => jsm.streams.update(names.stream, applied));
  } catch (e) {
    throw toStoreError(e, `${info ? 'updating' : 'creating'} stream ${names.stream}`);
  }
};
