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
import { toStoreError } from './errors.js';

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

/** Server error code when a stream name is taken with another configuration. */
const streamNameInUse = 10058;

/** The configuration of the event stream: keep everything, forever, on disk. */
export const eventStreamConfig = (names: EventStreamNames): StreamConfig =>
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
    num_replicas: 1,
    duplicate_window: nanos(duplicateWindowMs),
    // Appends look up an actor's head with Direct Get, which needs this.
    allow_direct: true,
  }) as StreamConfig;

/** Creates the event stream, or updates it to the expected configuration when it exists. */
export const ensureEventStream = async (
  jsm: JetStreamManager,
  names: EventStreamNames = defaultEventStream,
): Promise<StreamInfo> => {
  const config = eventStreamConfig(names);
  try {
    // Adding with an identical configuration succeeds on the server, so the common case is
    // one request; only a differing configuration needs the update.
    return await jsm.streams.add(config);
  } catch (e) {
    if (!(e instanceof JetStreamApiError && e.code === streamNameInUse)) {
      throw toStoreError(e, `creating stream ${names.stream}`);
    }
  }
  try {
    return await jsm.streams.update(names.stream, config);
  } catch (e) {
    throw toStoreError(e, `updating stream ${names.stream}`);
  }
};
