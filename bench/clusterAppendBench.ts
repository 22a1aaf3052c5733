/**
 * Append throughput on a three-node JetStream cluster (R3 stream) beside raw `js.publish` on the
 * same cluster, and the same on one server (R1) for reference: `npm run bench:cluster`.
 *
 * The same events (demo histories, the same bytes) go three ways, each on a fresh stream of the
 * production configuration, every actor concurrently and each actor's events in order:
 *   daqflow  EventStore.append (appendToStream: Nats-Expected-Last-Subject-Sequence, head cache)
 *   expect   js.publish with the same per-subject expected sequence, nothing else of the store's
 *   plain    js.publish with no header, as many in flight as there are actors
 * Runs are repeated and paired (each rep runs the three back to back), ratios are medians of the
 * paired ratios. The machine's load average is printed first: on a busy machine the figures are
 * the machine's, not daqflow's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { startNatsServer } from '../adapters/embedded/natsServer.js';
import { connectNats } from '../adapters/jetstream/connection.js';
import { ensureEventStream, type EventStreamNames } from '../adapters/jetstream/eventStream.js';
import { createJetStreamEventStore } from '../adapters/jetstream/jetstreamEventStore.js';
import { actorSubject } from '../adapters/jetstream/subjects.js';
import type { EventEnvelope } from '../events/envelope.js';
import { startNatsCluster } from '../test/harness/natsCluster.js';
import { demoHistories, interleave, payloadOf } from './history.js';
import { fmt, median, pairedRatio, pool } from './stats.js';

const { values: args } = parseArgs({
  options: {
    actors: { type: 'string', default: '50' },
    events: { type: 'string', default: '40' },
    repeat: { type: 'string', default: '5' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  process.stdout.write(`npm run bench:cluster -- [--actors N] [--events N] [--repeat N]
  Starts a three-node nats-server cluster and one single nats-server on loopback, and appends
  --actors x --events demo events per run three ways (daqflow's append, js.publish with the same
  expected-sequence header, plain js.publish) on an R3 stream of the cluster and an R1 stream of
  the single server. Defaults: --actors 50 --events 40 --repeat 5.
`);
  process.exit(0);
}
const actors = Number(args.actors);
const eventsPerActor = Number(args.events);
const repeat = Number(args.repeat);
const log = (line: string): void => void process.stderr.write(`${line}\n`);

interface Target {
  readonly label: string;
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly js: JetStreamClient;
  readonly replicas: number;
}

type Path = 'daqflow' | 'expect' | 'plain';
const paths: readonly Path[] = ['daqflow', 'expect', 'plain'];

let counter = 0;
const freshNames = (): EventStreamNames => {
  counter++;
  return { stream: `BENCH_CLUSTER_${counter}`, subjectPrefix: `bench_cluster_${counter}.events` };
};

const subjectOf = (names: EventStreamNames, e: EventEnvelope): string => actorSubject(names.subjectPrefix, e.actorKind, e.actorId);

/** Events per second of one path on a fresh stream of `target`, checked to hold every event. */
const run = async (target: Target, path: Path, histories: readonly (readonly EventEnvelope[])[]): Promise<number> => {
  const names = freshNames();
  await ensureEventStream(target.jsm, names, { replicas: target.replicas });
  const total = histories.reduce((n, h) => n + h.length, 0);
  const started = performance.now();
  if (path === 'daqflow') {
    const store = createJetStreamEventStore({ nc: target.nc, ...names });
    await Promise.all(histories.map(async (history) => {
      for (const event of history) await store.append(event);
    }));
    await store.close();
  } else if (path === 'expect') {
    await Promise.all(histories.map(async (history) => {
      let seq = 0;
      for (const event of history) {
        seq = (await target.js.publish(subjectOf(names, event), payloadOf(event), { expect: { lastSubjectSequence: seq } })).seq;
      }
    }));
  } else {
    await pool(interleave(histories), histories.length, async (event) => {
      await target.js.publish(subjectOf(names, event), payloadOf(event));
    });
  }
  const seconds = (performance.now() - started) / 1000;
  const info = await target.jsm.streams.info(names.stream);
  if (info.state.messages !== total) throw new Error(`${target.label} ${path}: ${info.state.messages} messages stored, ${total} sent`);
  if (info.config.num_replicas !== target.replicas) throw new Error(`${target.label}: stream has ${info.config.num_replicas} replicas`);
  await target.jsm.streams.delete(names.stream);
  return total / seconds;
};

const scratch = mkdtempSync(join(tmpdir(), 'daqflow-bench-cluster-'));
const cleanups: Array<() => Promise<unknown>> = [];
const cleanup = async (): Promise<void> => {
  for (let step = cleanups.pop(); step; step = cleanups.pop()) await step().catch(() => undefined);
  rmSync(scratch, { recursive: true, force: true });
};
process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));

try {
  const [l1, l5] = loadavg();
  log(`load average ${fmt(l1 ?? NaN, 2)} (1 min), ${fmt(l5 ?? NaN, 2)} (5 min) on this machine`);
  const cluster = await startNatsCluster({ dir: join(scratch, 'cluster') });
  cleanups.push(() => cluster.stop());
  const single = await startNatsServer({ storeDir: join(scratch, 'single'), logFile: join(scratch, 'single.log') });
  cleanups.push(() => single.stop());
  const targetOf = async (label: string, url: string, replicas: number): Promise<Target> => {
    const nc = await connectNats(url, 'daqflow-bench-cluster');
    cleanups.push(() => nc.close());
    return { label, nc, jsm: await jetstreamManager(nc), js: jetstream(nc, { timeout: 30_000 }), replicas };
  };
  const targets = [await targetOf('R3 cluster', cluster.url, 3), await targetOf('R1 single server', single.url, 1)];
  const histories = demoHistories(actors, eventsPerActor);
  const bytes = interleave(histories).map((e) => payloadOf(e).length);
  log(`${actors} actors x ${eventsPerActor} events, ${fmt(median(bytes))} B median payload; warm-up`);
  const warm = histories.slice(0, Math.max(1, Math.ceil(actors / 5)));
  for (const target of targets) for (const path of paths) await run(target, path, warm);

  const rates = new Map<string, number[]>();
  for (let rep = 0; rep < repeat; rep++) {
    for (const target of targets) {
      for (const path of paths) {
        const rate = await run(target, path, histories);
        rates.set(`${target.label}/${path}`, [...(rates.get(`${target.label}/${path}`) ?? []), rate]);
      }
    }
    log(`rep ${rep + 1}/${repeat} done`);
  }
  const of = (target: string, path: Path): number[] => rates.get(`${target}/${path}`) ?? [];
  const rows = [
    ...targets.flatMap((t) => [
      [`${t.label}: daqflow append / plain js.publish`, fmt(median(of(t.label, 'daqflow'))), fmt(median(of(t.label, 'plain'))), fmt(pairedRatio(of(t.label, 'daqflow'), of(t.label, 'plain')), 2)],
      [`${t.label}: daqflow append / js.publish with expected sequence`, fmt(median(of(t.label, 'daqflow'))), fmt(median(of(t.label, 'expect'))), fmt(pairedRatio(of(t.label, 'daqflow'), of(t.label, 'expect')), 2)],
    ]),
    ...paths.map((p) => [`${p}: R3 cluster / R1 single server`, fmt(median(of('R3 cluster', p))), fmt(median(of('R1 single server', p))), fmt(pairedRatio(of('R3 cluster', p), of('R1 single server', p)), 2)]),
  ];
  const header = ['measurement', 'events/s', 'baseline events/s', 'ratio'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  process.stdout.write(
    `${line(header)}\n| ${widths.map((w, i) => (i === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |\n${rows.map(line).join('\n')}\n` +
      `${actors} actors x ${eventsPerActor} events, median of ${repeat} paired runs; nats-server on loopback, the cluster's three nodes on this machine.\n`,
  );
} finally {
  await cleanup();
}
