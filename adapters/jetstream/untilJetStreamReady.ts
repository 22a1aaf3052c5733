import { StoreUnavailableError } from '../../events/errors.js';
import { JetStreamStartError, ReplicasRefusedError } from './errors.js';

export interface UntilJetStreamReadyOptions {
  /** Where JetStream is, for the final error. */
  readonly servers: string;
  /** How long to keep trying, from the first attempt; 0 tries once. */
  readonly timeoutMs: number;
  /** Hears each failed attempt that will be retried, with the delay before the next one. */
  readonly onWait?: (reason: string, delayMs: number, error: unknown) => void;
  /** First delay between attempts (default 250 ms); it doubles up to `maxDelayMs`. */
  readonly firstDelayMs?: number;
  /** Longest delay between attempts (default 5 s). */
  readonly maxDelayMs?: number;
}

/**
 * Whether a failed start may pass by itself: a server not (yet) reachable, a JetStream API that
 * times out or answers "unavailable" while a cluster elects its leaders, replicas a cluster
 * cannot place until its servers have joined. A refused login, a stream daqflow cannot use or
 * R3 asked of a single server stay as they are, and are reported at once.
 */
const passesByItself = (error: unknown): boolean =>
  error instanceof ReplicasRefusedError ? error.clustered : error instanceof StoreUnavailableError;

const reasonOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * Runs `attempt` until it succeeds, retrying with a doubling delay while its failure may pass
 * by itself and `timeoutMs` has not run out. The last failure then becomes JetStreamStartError
 * (a ReplicasRefusedError stays itself: it names the setting to change); a failure that will
 * not pass by itself is thrown at once, as it is.
 */
export const untilJetStreamReady = async <T>(attempt: () => Promise<T>, options: UntilJetStreamReadyOptions): Promise<T> => {
  const deadline = Date.now() + options.timeoutMs;
  let delayMs = options.firstDelayMs ?? 250;
  const maxDelayMs = options.maxDelayMs ?? 5_000;
  for (;;) {
    try {
      return await attempt();
    } catch (e) {
      if (!passesByItself(e)) throw e;
      const left = deadline - Date.now();
      if (left <= 0) {
        if (e instanceof ReplicasRefusedError) throw e;
        throw new JetStreamStartError(options.servers, options.timeoutMs, reasonOf(e), { cause: e });
      }
      const wait = Math.min(delayMs, left);
      options.onWait?.(reasonOf(e), wait, e);
      await new Promise((resolve) => setTimeout(resolve, wait));
      delayMs = Math.min(delayMs * 2, maxDelayMs);
    }
  }
};
