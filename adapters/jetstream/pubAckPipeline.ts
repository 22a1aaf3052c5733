import { JetStreamApiError } from '@nats-io/jetstream';
import { createInbox, headers as createHeaders, TimeoutError, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { StoreUnavailableError } from '../../events/errors.js';
import { msgIdHeader } from './msgIdHeader.js';

/** What JetStream answers a stored publish with. */
export interface PubAck {
  readonly stream: string;
  readonly seq: number;
  readonly duplicate: boolean;
}

interface Pending {
  readonly resolve: (ack: PubAck) => void;
  readonly reject: (error: unknown) => void;
  readonly deadline: number;
}

/**
 * Publishes to JetStream with many acknowledgements outstanding, the way the Go client's
 * PublishAsync does: one reply subscription for all, one timer sweep for all. The JS client's
 * js.publish() makes a request object, a timer and several Error objects (with stack traces)
 * per message, which was a third of the CPU an append cost on two cores.
 *
 * Errors are those js.publish() raises — JetStreamApiError for the server's refusals,
 * StoreUnavailableError for no answer — so callers map them the same way.
 */
export class PubAckPipeline {
  private readonly prefix = createInbox();
  private readonly pending = new Map<string, Pending>();
  private subscription: Subscription | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private next = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {}

  publish(subject: string, data: Uint8Array, options: { msgID?: string; lastSubjectSequence?: number }): Promise<PubAck> {
    if (this.nc.isClosed()) return Promise.reject(new StoreUnavailableError('event store unavailable: the NATS connection is closed'));
    this.start();
    const token = (this.next++).toString(36);
    const hdrs = createHeaders();
    if (options.msgID !== undefined) hdrs.set('Nats-Msg-Id', msgIdHeader(options.msgID));
    if (options.lastSubjectSequence !== undefined) {
      hdrs.set('Nats-Expected-Last-Subject-Sequence', String(options.lastSubjectSequence));
    }
    return new Promise<PubAck>((resolve, reject) => {
      this.pending.set(token, { resolve, reject, deadline: Date.now() + this.timeoutMs });
      try {
        this.nc.publish(subject, data, { reply: `${this.prefix}.${token}`, headers: hdrs });
      } catch (e) {
        this.pending.delete(token);
        reject(e);
      }
    });
  }

  /** Stops listening; acknowledgements still outstanding fail as unavailable. */
  close(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.failAll(new StoreUnavailableError('event store unavailable: the publisher was closed before the server answered'));
  }

  private start(): void {
    if (this.subscription) return;
    this.subscription = this.nc.subscribe(`${this.prefix}.*`, {
      callback: (error, msg) => {
        if (error) return this.failAll(new StoreUnavailableError(`event store unavailable: ${error.message}`, { cause: error }));
        const token = msg.subject.slice(this.prefix.length + 1);
        const waiting = this.pending.get(token);
        if (!waiting) return;
        this.pending.delete(token);
        // A status message (503) means nobody consumed the subject: no stream takes it.
        if (msg.headers?.hasError) {
          waiting.reject(new StoreUnavailableError(`event store unavailable: no stream stores ${msg.subject} (${msg.headers.code} ${msg.headers.description})`));
          return;
        }
        try {
          const reply = msg.json<{ stream?: string; seq?: number; duplicate?: boolean; error?: { code: number; err_code: number; description: string } }>();
          if (reply.error) waiting.reject(new JetStreamApiError(reply.error));
          else waiting.resolve({ stream: reply.stream ?? '', seq: reply.seq ?? 0, duplicate: reply.duplicate === true });
        } catch (e) {
          waiting.reject(new StoreUnavailableError('event store answered a publish with something that is not a JetStream acknowledgement', { cause: e }));
        }
      },
    });
    void this.subscription.closed.then(() => this.failAll(new StoreUnavailableError('event store unavailable: the NATS connection closed')));
    this.sweeper = setInterval(() => this.sweep(), Math.min(250, this.timeoutMs));
    this.sweeper.unref();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [token, waiting] of this.pending) {
      if (waiting.deadline > now) continue;
      this.pending.delete(token);
      waiting.reject(new TimeoutError());
    }
  }

  private failAll(error: unknown): void {
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }
}
