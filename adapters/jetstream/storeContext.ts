import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { RecordedEvent } from '../../events/envelope.js';
import type { HeadCache } from './headCache.js';
import type { PubAckPipeline } from './pubAckPipeline.js';

/** What every operation of the JetStream store works with. */
export interface StoreContext {
  readonly js: JetStreamClient;
  /** Publishes events with many acknowledgements outstanding. */
  readonly publisher: PubAckPipeline;
  /** The manager (stream and consumer API); made on first use, without a round trip. */
  manager(): Promise<JetStreamManager>;
  /** JetStream stream name. */
  readonly stream: string;
  readonly subjectPrefix: string;
  readonly heads: HeadCache;
  /** Decodes a stored message; one that does not decode is reported and gives undefined. */
  decode(data: Uint8Array, seq: number): RecordedEvent | undefined;
}
