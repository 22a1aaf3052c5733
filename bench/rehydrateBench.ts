import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { createJetStreamEventStore } from '../adapters/jetstream/jetstreamEventStore.js';
import { actorSubject } from '../adapters/jetstream/subjects.js';
import { rehydrate } from '../actors/runtime/rehydrate.js';
import { stateOf } from '../actors/runtime/stateOf.js';
import { demoDefinition, demoHistory, recorded } from './history.js';
import type { Log, Measured } from './result.js';
import { deleteStream, freshStreamNames, recreateStream, type BenchServers } from './servers.js';
import { fmt, mean, median, quantile } from './stats.js';

export interface RehydrateBenchOptions {
  /** Events of the actor (1,000 in the target). */
  readonly events: number;
  /** Timed folds (after as many warm-up folds as a fifth of this, at least 10). */
  readonly folds: number;
  /** Timed reads from JetStream. */
  readonly reads: number;
}

const timeEach = async (n: number, work: () => unknown): Promise<number[]> => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await work();
    out.push(performance.now() - t);
  }
  return out;
};

const summary = (xs: readonly number[]): Record<string, number> => ({
  median: median(xs),
  mean: mean(xs),
  p95: quantile(xs, 0.95),
  min: Math.min(...xs),
  max: Math.max(...xs),
});

/**
 * Rehydration of one demo actor with `events` events: (a) rehydrate() over the events in memory
 * (the fold the runtime does), (b) store.readStream from JetStream + the same fold, against a
 * raw ordered-consumer read of the same messages without decoding.
 */
export const runRehydrateBench = async (servers: BenchServers, options: RehydrateBenchOptions, log: Log): Promise<Measured> => {
  const { events: n, folds, reads } = options;
  const history = demoHistory({ events: n });
  const id = history[0]!.actorId;
  const inMemory = recorded(history);
  const expectedState = history.at(-1)!.state;

  const fold = (): void => {
    const folded = rehydrate(demoDefinition, id, inMemory);
    if (folded.version !== n || stateOf(folded.snapshot) !== expectedState) throw new Error('fold went wrong');
  };
  log(`rehydrate: folding ${n} events in memory`);
  await timeEach(Math.max(10, Math.ceil(folds / 5)), fold);
  const foldMs = await timeEach(folds, fold);

  const names = freshStreamNames('rehydrate');
  await recreateStream(servers.jsm, names);
  const store = createJetStreamEventStore({ nc: servers.nc, ...names });
  for (const event of history) await store.append(event);
  await store.close();

  const readAndFold = async (): Promise<void> => {
    // A fresh store each time: nothing cached from the previous read.
    const fresh = createJetStreamEventStore({ nc: servers.nc, ...names });
    const stored = await fresh.readStream('demo', id);
    const folded = rehydrate(demoDefinition, id, stored);
    if (folded.version !== n) throw new Error(`read ${stored.length} events, folded to v${folded.version}`);
    await fresh.close();
  };
  const readOnly = async (): Promise<void> => {
    const fresh = createJetStreamEventStore({ nc: servers.nc, ...names });
    const stored = await fresh.readStream('demo', id);
    if (stored.length !== n) throw new Error(`read ${stored.length} events`);
    await fresh.close();
  };
  const subject = actorSubject(names.subjectPrefix, 'demo', id);
  const js = jetstream(servers.nc);
  const rawRead = async (): Promise<void> => {
    const consumer = await js.consumers.get(names.stream, {
      filter_subjects: subject,
      deliver_policy: DeliverPolicy.All,
    });
    const messages = await consumer.consume({ max_messages: 1_000 });
    let count = 0;
    for await (const m of messages) {
      count++;
      if (m.info.pending === 0) break;
    }
    messages.stop();
    await consumer.delete().catch(() => undefined);
    if (count !== n) throw new Error(`raw read got ${count} messages`);
  };
  log(`rehydrate: reading ${n} events from JetStream`);
  await timeEach(5, readAndFold);
  await timeEach(5, rawRead);
  const readFoldMs: number[] = [];
  const readOnlyMs: number[] = [];
  const rawMs: number[] = [];
  for (let i = 0; i < reads; i++) {
    readFoldMs.push(...(await timeEach(1, readAndFold)));
    readOnlyMs.push(...(await timeEach(1, readOnly)));
    rawMs.push(...(await timeEach(1, rawRead)));
  }
  await deleteStream(servers.jsm, names);

  const foldMedian = median(foldMs);
  return {
    rows: [
      {
        key: 'rehydrate.fold',
        measurement: `rehydrate ${n} events: fold only (median of ${folds})`,
        daqflow: foldMedian,
        baseline: null,
        ratio: null,
        unit: 'ms',
        baselineLabel: '',
        target: '< 20 ms',
        result: foldMedian < 20 ? 'PASS' : 'MISS',
      },
      {
        key: 'rehydrate.readAndFold',
        measurement: `rehydrate ${n} events: JetStream read + fold (median of ${reads})`,
        daqflow: median(readFoldMs),
        baseline: median(rawMs),
        ratio: median(readFoldMs) / median(rawMs),
        unit: 'ms',
        baselineLabel: 'raw ordered-consumer read',
        target: '(judged on fold)',
        result: 'INFO',
      },
      {
        key: 'rehydrate.readOnly',
        measurement: `  of which: store.readStream alone (median of ${reads})`,
        daqflow: median(readOnlyMs),
        baseline: median(rawMs),
        ratio: median(readOnlyMs) / median(rawMs),
        unit: 'ms',
        baselineLabel: 'raw ordered-consumer read',
        target: '-',
        result: 'INFO',
      },
    ],
    notes: [
      `fold: ${fmt((foldMedian / n) * 1000, 1)} us per event (min ${fmt(Math.min(...foldMs), 1)} ms, p95 ${fmt(quantile(foldMs, 0.95), 1)} ms over ${folds})`,
    ],
    details: {
      events: n,
      foldMs: summary(foldMs),
      perEventFoldUs: (foldMedian / n) * 1000,
      readStreamAndFoldMs: summary(readFoldMs),
      readStreamOnlyMs: summary(readOnlyMs),
      rawOrderedReadMs: summary(rawMs),
    },
  };
};
