/**
 * Takeover time after a SIGKILL: two `daqflow up` processes share a nats-server and a database
 * and run demo jobs whose steps come every 500 ms; the process owning the most of them is killed
 * (SIGKILL) and the clock runs until the first event the surviving process appends for one of
 * the killed process's actors (a deadline or an effect outcome: the first resumed effect). A
 * replacement is started after each kill. Prints p50 and max over the kills, as Markdown.
 *
 *   npm run bench:takeover -- [--kills 10] [--ttl 10000]
 *
 * `--ttl` is DAQFLOW_LEASE_TTL_MS of both processes. Takeover is expected at about the TTL plus
 * one scan; docs/architecture.md ("Processes") explains the parts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { eventSubjectPrefix } from '../adapters/app/startDaqflow.js';
import { createJetStreamEventStore } from '../adapters/jetstream/jetstreamEventStore.js';
import { listKeys } from '../adapters/ownership/listKeys.js';
import { ownershipBuckets } from '../adapters/ownership/ownershipBuckets.js';
import { ownedTotal, readPresence } from '../adapters/ownership/readPresence.js';
import { killAllDaqflowProcesses, startDaqflowProcess, type DaqflowProcess } from '../test/harness/daqflowProcess.js';
import { Cleanup, freshStreamNames, startBenchServers } from './servers.js';
import { fmt, largest, median } from './stats.js';

const flag = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} takes a whole number`);
  return value;
};
const kills = flag('kills', 10);
const ttlMs = flag('ttl', 10_000);
const JOBS = 40;
const log = (line: string): void => void process.stderr.write(`bench:takeover: ${line}\n`);

const cleanup = new Cleanup();
process.once('SIGINT', () => void cleanup.runAll().then(() => process.exit(130)));
cleanup.add('killing the daqflow processes', () => killAllDaqflowProcesses());

const main = async (): Promise<void> => {
  const servers = await startBenchServers(cleanup, log);
  const names = freshStreamNames('takeover');
  const home = mkdtempSync(join(os.tmpdir(), 'daqflow-takeover-'));
  cleanup.add(`removing ${home}`, () => rmSync(home, { recursive: true, force: true }));
  const config = { stream: names.stream, subjectPrefix: 'takeover' };
  let n = 0;
  const launch = (): Promise<DaqflowProcess> =>
    startDaqflowProcess({
      timeoutMs: 180_000,
      env: {
        DAQFLOW_NATS_URL: servers.nats.url,
        DAQFLOW_DATABASE_URL: servers.dbUrl,
        DAQFLOW_HOME: join(home, `process-${n}`),
        DAQFLOW_NODE: `bench-${n++}`,
        DAQFLOW_STREAM: config.stream,
        DAQFLOW_SUBJECT_PREFIX: config.subjectPrefix,
        DAQFLOW_LEASE_TTL_MS: String(ttlMs),
        DAQFLOW_LOG_LEVEL: 'warn',
      },
    });
  const processes = await Promise.all([launch(), launch()]);
  const store = createJetStreamEventStore({ nc: servers.nc, stream: config.stream, subjectPrefix: eventSubjectPrefix(config) });
  cleanup.add('closing the store', () => store.close());
  for (let i = 0; i < JOBS; i++) {
    const reply = await servers.nc.request(
      `${config.subjectPrefix}.demo.start`,
      JSON.stringify({ steps: 100_000, intervalMs: 500, label: `takeover ${i}`, requestId: `takeover-${i}` }),
      { timeout: 30_000 },
    );
    if (!reply.string().includes('"id"')) throw new Error(`demo.start refused: ${reply.string()}`);
  }
  const owners = await new Kvm(servers.nc).open(ownershipBuckets(config.stream).owners);
  const jsm = await jetstreamManager(servers.nc);
  const ownedBy = async (processId: string): Promise<Set<string>> => {
    const ids = new Set<string>();
    for (const key of await listKeys(jsm, ownershipBuckets(config.stream).owners, 'a.>')) {
      const entry = await owners.get(key);
      if (entry?.operation === 'PUT' && entry.json<{ process: string }>().process === processId) ids.add(key.split('.').slice(2).join('.'));
    }
    return ids;
  };

  const times: number[] = [];
  for (let k = 0; k < kills; k++) {
    // Every job owned and stepping before the kill.
    for (;;) {
      const presence = await readPresence(servers.nc, config.stream);
      if (presence.length >= 2 && presence.reduce((a, p) => a + ownedTotal(p), 0) >= JOBS) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const alive = processes.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
    const presence = (await readPresence(servers.nc, config.stream)).filter((p) => alive.some((a) => a.child.pid === p.pid));
    const busiest = [...presence].sort((a, b) => ownedTotal(b) - ownedTotal(a))[0];
    const victim = alive.find((p) => p.child.pid === busiest?.pid);
    if (!busiest || !victim) throw new Error('no process to kill');
    const actors = await ownedBy(busiest.process);
    const from = (await store.lastPosition()) + 1;
    const subscription = store.subscribe(from);
    const killedAt = Date.now();
    victim.kill('SIGKILL');
    await victim.exited;
    let resumedAt: number | undefined;
    for await (const batch of subscription) {
      const first = batch.find((e) => actors.has(e.actorId) && Date.parse(e.time) >= killedAt);
      if (first) {
        resumedAt = Date.parse(first.time);
        break;
      }
    }
    await subscription.close();
    const ms = (resumedAt ?? NaN) - killedAt;
    times.push(ms);
    log(`kill ${k + 1}/${kills}: ${actors.size} actors of ${busiest.node}, first resumed effect after ${fmt(ms)} ms`);
    processes.splice(processes.indexOf(victim), 1, await launch());
  }

  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  process.stdout.write(
    [
      `Takeover after SIGKILL: ${kills} kills, DAQFLOW_LEASE_TTL_MS ${ttlMs}, ${JOBS} demo jobs stepping every 500 ms on two processes; ${servers.natsVersion}; load average ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} at the end`,
      '',
      line(['kill → first resumed effect', 'p50', 'max', 'each (ms)']),
      line(['---', '---:', '---:', '---']),
      line(['ms', fmt(median(times)), fmt(largest(times)), times.map((t) => fmt(t)).join(', ')]),
      '',
    ].join('\n'),
  );
};

main()
  .catch((e: unknown) => {
    process.stderr.write(`bench:takeover failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanup.runAll());
