import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { createJetStreamEventStore } from '../adapters/jetstream/jetstreamEventStore.js';
import { PubAckPipeline } from '../adapters/jetstream/pubAckPipeline.js';
import { actorSubject } from '../adapters/jetstream/subjects.js';
import type { EventStreamNames } from '../adapters/jetstream/eventStream.js';
import type { EventEnvelope } from '../events/envelope.js';
import { demoHistories, demoHistory, interleave, payloadOf } from './history.js';
import type { Log, Measured } from './result.js';
import { cpuMeter, deleteStream, freshStreamNames, recreateStream, type BenchServers, type CpuUse } from './servers.js';
import { fmt, mean, median, pairedRatio, pool, quantile } from './stats.js';

export interface AppendBenchOptions {
  readonly actors: number;
  readonly eventsPerActor: number;
  /** Sequential appends to one actor for the latency rows. */
  readonly latencyOps: number;
  readonly repeat: number;
}

/** A throughput run: events per second, and CPU per event of this process and of nats-server. */
interface Rated {
  readonly rate: number;
  readonly cpu: CpuUse;
}

interface Publishable {
  readonly subject: string;
  readonly bytes: Uint8Array;
}

const publishablesOf = (names: EventStreamNames, events: readonly EventEnvelope[]): Publishable[] =>
  events.map((e) => ({ subject: actorSubject(names.subjectPrefix, e.actorKind, e.actorId), bytes: payloadOf(e) }));

const cpuText = (cpu: CpuUse): string => `${fmt(cpu.nodeUs)} + ${fmt(cpu.natsUs)} us`;

/** EventStore.append, every actor concurrently, each actor's versions in order. Events per second. */
const daqflowAppendRate = async (
  servers: BenchServers,
  names: EventStreamNames,
  histories: readonly (readonly EventEnvelope[])[],
): Promise<Rated> => {
  await recreateStream(servers.jsm, names);
  const store = createJetStreamEventStore({ nc: servers.nc, ...names });
  const total = histories.reduce((n, h) => n + h.length, 0);
  const cpu = cpuMeter(servers);
  const started = performance.now();
  await Promise.all(
    histories.map(async (history) => {
      for (const event of history) await store.append(event);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const used = cpu(total);
  await store.close();
  await checkCount(servers, names, total);
  return { rate: total / seconds, cpu: used };
};

/** js.publish of the same bytes to the same subjects, no expect headers, `inFlight` at a time. */
const rawPublishRate = async (
  servers: BenchServers,
  names: EventStreamNames,
  js: JetStreamClient,
  items: readonly Publishable[],
  inFlight: number,
): Promise<Rated> => {
  await recreateStream(servers.jsm, names);
  const cpu = cpuMeter(servers);
  const started = performance.now();
  await pool(items, inFlight, async (item) => {
    await js.publish(item.subject, item.bytes);
  });
  const seconds = (performance.now() - started) / 1000;
  const used = cpu(items.length);
  await checkCount(servers, names, items.length);
  return { rate: items.length / seconds, cpu: used };
};

/**
 * js.publish of the same bytes with the same concurrency check the store sends
 * (Nats-Expected-Last-Subject-Sequence), each actor in order, every actor concurrently: what
 * the server's check costs, without anything of the store's own.
 */
const rawExpectRate = async (
  servers: BenchServers,
  names: EventStreamNames,
  js: JetStreamClient,
  perActor: readonly (readonly Publishable[])[],
): Promise<Rated> => {
  await recreateStream(servers.jsm, names);
  const total = perActor.reduce((n, h) => n + h.length, 0);
  const cpu = cpuMeter(servers);
  const started = performance.now();
  await Promise.all(
    perActor.map(async (items) => {
      let seq = 0;
      for (const item of items) {
        seq = (await js.publish(item.subject, item.bytes, { expect: { lastSubjectSequence: seq } })).seq;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const used = cpu(total);
  await checkCount(servers, names, total);
  return { rate: total / seconds, cpu: used };
};

/**
 * The same bytes through daqflow's own pipelined publisher (one reply subscription, no per-message
 * timer), no expect header, `inFlight` at a time: the fastest raw publish this client can do, so
 * the store's own cost shows apart from the transport's.
 */
const rawPipelineRate = async (
  servers: BenchServers,
  names: EventStreamNames,
  items: readonly Publishable[],
  inFlight: number,
): Promise<Rated> => {
  await recreateStream(servers.jsm, names);
  const publisher = new PubAckPipeline(servers.nc, 30_000);
  const cpu = cpuMeter(servers);
  const started = performance.now();
  await pool(items, inFlight, async (item) => {
    await publisher.publish(item.subject, item.bytes, {});
  });
  const seconds = (performance.now() - started) / 1000;
  const used = cpu(items.length);
  publisher.close();
  await checkCount(servers, names, items.length);
  return { rate: items.length / seconds, cpu: used };
};

const checkCount = async (servers: BenchServers, names: EventStreamNames, expected: number): Promise<void> => {
  const info = await servers.jsm.streams.info(names.stream);
  if (info.state.messages !== expected) {
    throw new Error(`stream ${names.stream} holds ${info.state.messages} messages, expected ${expected}`);
  }
};

/** Whether the store wrote exactly the bytes the raw baseline publishes (checked on one event). */
const sameBytes = async (servers: BenchServers, names: EventStreamNames, event: EventEnvelope): Promise<boolean> => {
  const stored = await servers.jsm.direct.getMessage(names.stream, {
    last_by_subj: actorSubject(names.subjectPrefix, event.actorKind, event.actorId),
  });
  return stored !== null && Buffer.from(stored.data).equals(Buffer.from(payloadOf(event)));
};

/** Sequential appends to one actor with the concurrency check: per-append latency in ms. */
const daqflowLatencies = async (servers: BenchServers, names: EventStreamNames, history: readonly EventEnvelope[]): Promise<number[]> => {
  const store = createJetStreamEventStore({ nc: servers.nc, ...names });
  const out: number[] = [];
  for (const event of history) {
    const t = performance.now();
    await store.append(event);
    out.push(performance.now() - t);
  }
  await store.close();
  return out;
};

/** Sequential awaited js.publish to one subject: per-publish latency in ms. */
const rawLatencies = async (js: JetStreamClient, items: readonly Publishable[]): Promise<number[]> => {
  const out: number[] = [];
  for (const item of items) {
    const t = performance.now();
    await js.publish(item.subject, item.bytes);
    out.push(performance.now() - t);
  }
  return out;
};

/**
 * Aggregate append rate against raw async publish, and single-actor append latency against raw
 * sync publish, on a stream made with the production configuration (file storage, dedup window,
 * allow_direct), recreated empty before every run.
 */
export const runAppendBench = async (servers: BenchServers, options: AppendBenchOptions, log: Log): Promise<Measured> => {
  const js = jetstream(servers.nc, { timeout: 30_000 });
  const { actors, eventsPerActor, latencyOps, repeat } = options;
  const total = actors * eventsPerActor;
  const names = freshStreamNames('append');

  log(`append: building ${total} demo events (${actors} actors x ${eventsPerActor})`);
  const histories = demoHistories(actors, eventsPerActor);
  const items = publishablesOf(names, interleave(histories));
  const perActorItems = histories.map((h) => publishablesOf(names, h));
  const payloadBytes = items.map((i) => i.bytes.length);

  // Warm-up: a fifth of the actors, both paths, on the same stream names.
  const warm = histories.slice(0, Math.max(1, Math.ceil(actors / 5)));
  log('append: warm-up');
  await daqflowAppendRate(servers, names, warm);
  await rawPublishRate(servers, names, js, publishablesOf(names, interleave(warm)), warm.length);
  await rawExpectRate(servers, names, js, perActorItems.slice(0, warm.length));
  await rawPipelineRate(servers, names, publishablesOf(names, interleave(warm)), warm.length);

  const pipelineRuns: Rated[] = [];
  const daqflowRuns: Rated[] = [];
  const rawRuns: Rated[] = [];
  const rawExpectRuns: Rated[] = [];
  let identical = true;
  for (let rep = 0; rep < repeat; rep++) {
    // Rotate the order so no path always runs on a server that just worked hard.
    const paths = ['raw', 'daqflow', 'expect', 'pipeline'] as const;
    const order = [0, 1, 2, 3].map((i) => paths[(i + rep) % paths.length]!);
    for (const path of order) {
      if (path === 'pipeline') {
        pipelineRuns.push(await rawPipelineRate(servers, names, items, actors));
      } else if (path === 'raw') {
        rawRuns.push(await rawPublishRate(servers, names, js, items, actors));
      } else if (path === 'expect') {
        rawExpectRuns.push(await rawExpectRate(servers, names, js, perActorItems));
      } else {
        daqflowRuns.push(await daqflowAppendRate(servers, names, histories));
        identical &&= await sameBytes(servers, names, histories[0]!.at(-1)!);
      }
    }
    log(
      `append: run ${rep + 1}/${repeat}: daqflow ${Math.round(daqflowRuns.at(-1)!.rate)}/s, raw ${Math.round(rawRuns.at(-1)!.rate)}/s, raw+expect ${Math.round(rawExpectRuns.at(-1)!.rate)}/s, raw pipelined ${Math.round(pipelineRuns.at(-1)!.rate)}/s`,
    );
  }

  // Latency: one actor, versions 1..n in order; the raw path publishes the same bytes.
  const latencyNames = freshStreamNames('latency');
  const warmCount = Math.max(50, Math.ceil(latencyOps / 10));
  const daqflowLat: number[] = [];
  const rawLat: number[] = [];
  for (let rep = 0; rep < repeat; rep++) {
    const history = demoHistory({ events: latencyOps });
    const warmHistory = demoHistory({ events: warmCount });
    const single = publishablesOf(latencyNames, history);
    const order = rep % 2 === 0 ? (['raw', 'daqflow'] as const) : (['daqflow', 'raw'] as const);
    for (const path of order) {
      await recreateStream(servers.jsm, latencyNames);
      if (path === 'raw') {
        await rawLatencies(js, publishablesOf(latencyNames, warmHistory));
        rawLat.push(...(await rawLatencies(js, single)));
      } else {
        await daqflowLatencies(servers, latencyNames, warmHistory);
        daqflowLat.push(...(await daqflowLatencies(servers, latencyNames, history)));
      }
    }
    log(`append latency: run ${rep + 1}/${repeat} done`);
  }
  await deleteStream(servers.jsm, names);
  await deleteStream(servers.jsm, latencyNames);

  const daqflowRates = daqflowRuns.map((r) => r.rate);
  const rawRates = rawRuns.map((r) => r.rate);
  const rawExpectRates = rawExpectRuns.map((r) => r.rate);
  const cpuOf = (runs: readonly Rated[]): CpuUse => ({
    nodeUs: median(runs.map((r) => r.cpu.nodeUs)),
    natsUs: median(runs.map((r) => r.cpu.natsUs)),
  });
  const daqflowRate = median(daqflowRates);
  const rawRate = median(rawRates);
  const latency = {
    daqflow: { mean: mean(daqflowLat), p50: quantile(daqflowLat, 0.5), p99: quantile(daqflowLat, 0.99), max: Math.max(...daqflowLat) },
    raw: { mean: mean(rawLat), p50: quantile(rawLat, 0.5), p99: quantile(rawLat, 0.99), max: Math.max(...rawLat) },
  };
  const rateRatio = pairedRatio(daqflowRates, rawRates);
  const rawExpect = median(rawExpectRates);
  const pipelineRates = pipelineRuns.map((r) => r.rate);
  return {
    rows: [
      {
        key: 'append.rate',
        measurement: `append rate, ${actors} actors x ${eventsPerActor} ev concurrently`,
        daqflow: daqflowRate,
        baseline: rawRate,
        ratio: rateRatio,
        unit: 'ev/s',
        baselineLabel: `raw js.publish, ${actors} in flight`,
        target: '>= 0.8',
        result: rateRatio >= 0.8 ? 'PASS' : 'MISS',
      },
      {
        key: 'append.rawExpect',
        measurement: '  part: raw js.publish + expect header, same order',
        daqflow: rawExpect,
        baseline: rawRate,
        ratio: pairedRatio(rawExpectRates, rawRates),
        unit: 'ev/s',
        baselineLabel: `raw js.publish, ${actors} in flight`,
        target: '-',
        result: 'INFO',
      },
      {
        key: 'append.vsPipeline',
        measurement: '  same, against raw pipelined publish (same transport)',
        daqflow: daqflowRate,
        baseline: median(pipelineRates),
        ratio: pairedRatio(daqflowRates, pipelineRates),
        unit: 'ev/s',
        baselineLabel: `raw publish through PubAckPipeline, ${actors} in flight, no expect header`,
        target: '-',
        result: 'INFO',
      },
      {
        key: 'append.latency.mean',
        measurement: `single-actor append latency, mean (${latencyOps} seq.)`,
        daqflow: latency.daqflow.mean,
        baseline: latency.raw.mean,
        ratio: latency.daqflow.mean / latency.raw.mean,
        unit: 'ms',
        baselineLabel: 'raw sync publish',
        target: 'report (~1)',
        result: 'INFO',
      },
      {
        key: 'append.latency.p99',
        measurement: `single-actor append latency, p99 (${latencyOps} seq.)`,
        daqflow: latency.daqflow.p99,
        baseline: latency.raw.p99,
        ratio: latency.daqflow.p99 / latency.raw.p99,
        unit: 'ms',
        baselineLabel: 'raw sync publish',
        target: 'report (~1)',
        result: 'INFO',
      },
    ],
    notes: [
      `append CPU per event, this process + nats-server: daqflow ${cpuText(cpuOf(daqflowRuns))}, raw ${cpuText(cpuOf(rawRuns))}, raw+expect ${cpuText(cpuOf(rawExpectRuns))}, raw pipelined ${cpuText(cpuOf(pipelineRuns))}`,
      `append payload ${fmt(mean(payloadBytes))} B mean (${Math.min(...payloadBytes)}-${Math.max(...payloadBytes)}); bytes stored by daqflow identical to the raw payload: ${identical ? 'yes' : 'NO'}`,
    ],
    details: {
      events: total,
      actors,
      eventsPerActor,
      inFlight: actors,
      payloadBytes: { mean: mean(payloadBytes), min: Math.min(...payloadBytes), max: Math.max(...payloadBytes) },
      storedBytesIdenticalToRaw: identical,
      daqflowRates,
      rawRates,
      rawExpectRates,
      pipelineRates,
      cpuPerEventUs: { daqflow: cpuOf(daqflowRuns), raw: cpuOf(rawRuns), rawExpect: cpuOf(rawExpectRuns) },
      latencyOps,
      latencySamples: daqflowLat.length,
      latency,
    },
  };
};
