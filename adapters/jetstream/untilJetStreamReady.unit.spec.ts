import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../events/errors.js';
import { JetStreamStartError, NatsSettingError, ReplicasRefusedError, StreamMismatchError } from './errors.js';
import { untilJetStreamReady } from './untilJetStreamReady.js';

/** An attempt that fails with each of `failures` in turn, then answers `ok`. */
const failing = (failures: readonly unknown[]): { attempt: () => Promise<string>; calls: () => number } => {
  let calls = 0;
  return {
    attempt: async () => {
      const failure = failures[calls++];
      if (failure !== undefined) throw failure;
      return 'ok';
    },
    calls: () => calls,
  };
};

const fast = { servers: 'nats://a:4222,nats://b:4222', firstDelayMs: 1, maxDelayMs: 4 };

describe('untilJetStreamReady', () => {
  it('retries what passes by itself and logs each wait with its reason, doubling the delay up to the cap', async () => {
    const waits: [string, number][] = [];
    const { attempt, calls } = failing([
      new StoreUnavailableError('event store unavailable during reading stream S: timeout'),
      new StoreUnavailableError('cannot connect to NATS at nats://a:4222: ECONNREFUSED'),
      new ReplicasRefusedError('stream S', 3, true, 3),
      new StoreUnavailableError('event store refused creating stream S: JetStream system temporarily unavailable'),
    ]);
    const result = await untilJetStreamReady(attempt, { ...fast, timeoutMs: 60_000, onWait: (reason, delayMs) => waits.push([reason, delayMs]) });
    expect(result).toBe('ok');
    expect(calls()).toBe(5);
    expect(waits.map(([, delay]) => delay)).toEqual([1, 2, 4, 4]);
    expect(waits[0]?.[0]).toMatch(/timeout/);
    expect(waits[2]?.[0]).toMatch(/needs 3 replicas \(DAQFLOW_STREAM_REPLICAS\)/);
  });

  it('throws at once what does not pass by itself: a refused login, a stream daqflow cannot use, R3 on a single server', async () => {
    const refusals = [
      new NatsSettingError('user', 'NATS at nats://a:4222 refused the login of daqflow'),
      new StreamMismatchError('S', [{ field: 'subjects', have: ['x.>'], want: ['y.>'], needed: true }]),
      new ReplicasRefusedError('stream S', 3, false, undefined),
      new TypeError('a programming error'),
    ];
    for (const refusal of refusals) {
      const { attempt, calls } = failing([refusal]);
      await expect(untilJetStreamReady(attempt, { ...fast, timeoutMs: 60_000 })).rejects.toBe(refusal);
      expect(calls()).toBe(1);
    }
  });

  it('ends with JetStreamStartError naming the servers, the time-out setting and the last reason', async () => {
    const always = async (): Promise<never> => {
      throw new StoreUnavailableError('event store unavailable during reading stream S: TIMEOUT');
    };
    const error = await untilJetStreamReady(always, { ...fast, timeoutMs: 30 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JetStreamStartError);
    expect((error as JetStreamStartError).code).toBe('STORE_UNAVAILABLE');
    expect((error as Error).message).toMatch(/^JetStream at nats:\/\/a:4222,nats:\/\/b:4222 was not ready within 30 ms \(DAQFLOW_START_TIMEOUT_MS\); last: .*TIMEOUT\. Check that/);
    expect((error as JetStreamStartError).details).toMatchObject({ setting: 'DAQFLOW_START_TIMEOUT_MS', timeoutMs: 30 });
  });

  it('keeps a cluster\'s refusal of the replicas as it is when time runs out: it names the setting to change', async () => {
    const refusal = new ReplicasRefusedError('stream S', 5, true, 3);
    const error = await untilJetStreamReady(() => Promise.reject(refusal), { ...fast, timeoutMs: 20 }).catch((e: unknown) => e);
    expect(error).toBe(refusal);
    expect(refusal.message).toBe(
      'stream S needs 5 replicas (DAQFLOW_STREAM_REPLICAS) and the cluster could not place them (it names 3 server(s)): start the missing JetStream servers, or set DAQFLOW_STREAM_REPLICAS to at most the number of JetStream servers that are up',
    );
  });

  it('tries once with a time-out of 0', async () => {
    const { attempt, calls } = failing([new StoreUnavailableError('down')]);
    await expect(untilJetStreamReady(attempt, { ...fast, timeoutMs: 0 })).rejects.toBeInstanceOf(JetStreamStartError);
    expect(calls()).toBe(1);
  });
});
