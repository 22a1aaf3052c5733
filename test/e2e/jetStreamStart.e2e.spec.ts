import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventStreamConfig } from '../../adapters/jetstream/eventStream.js';
import { killAllDaqflowProcesses, runCli, showResult, startDaqflowProcess } from '../harness/daqflowProcess.js';
import { startNatsCluster, type NatsCluster } from '../harness/natsCluster.js';
import { useE2eEnvironments, waitFor } from './e2eHelpers.js';

/*
 * `daqflow up` at start, when JetStream is not ready: a cluster that has lost its majority
 * elects no leader and its JetStream API times out. up waits, saying why, and comes up once the
 * servers are back; past DAQFLOW_START_TIMEOUT_MS it stops with an error saying what to check.
 * Replicas the servers cannot hold are refused naming DAQFLOW_STREAM_REPLICAS.
 */

const e2e = useE2eEnvironments('jetstream-start');
let cluster: NatsCluster;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  const dir = join(e2e.home, 'cluster');
  mkdirSync(dir, { recursive: true });
  cluster = await startNatsCluster({ dir });
  nc = await connect({ servers: cluster.nodes.map((n) => n.url) });
  jsm = await jetstreamManager(nc);
}, 60_000);

afterEach(async () => {
  await killAllDaqflowProcesses();
});

afterAll(async () => {
  await nc?.close();
  await cluster?.stop();
});

const onCluster = async (extra: Record<string, string> = {}): Promise<{ env: Record<string, string>; stream: string }> => {
  const environment = await e2e.create();
  return { stream: environment.stream, env: { ...environment.env, DAQFLOW_NATS_URL: cluster.url, ...extra } };
};

const WAITING = /waiting for JetStream: /;

describe('daqflow up while JetStream is not ready', () => {
  it('refuses three replicas on a single server at once, naming DAQFLOW_STREAM_REPLICAS', async () => {
    const { env } = await e2e.create();
    const result = await runCli(['up'], { ...env, DAQFLOW_STREAM_REPLICAS: '3' });
    const shown = showResult(['up'], result);
    expect(result.code, shown).toBe(2);
    expect(result.stderr, shown).toMatch(
      /^daqflow: stream T_\S+ needs 3 replicas \(DAQFLOW_STREAM_REPLICAS\) and the NATS server is not part of a cluster, so it keeps one copy: set DAQFLOW_STREAM_REPLICAS=1/m,
    );
    expect(result.stderr, shown).not.toMatch(WAITING);
  }, 60_000);

  it('refuses more replicas than the cluster has servers, after waiting for them', async () => {
    const { env } = await onCluster({ DAQFLOW_STREAM_REPLICAS: '5', DAQFLOW_START_TIMEOUT_MS: '2000' });
    const result = await runCli(['up'], env);
    const shown = showResult(['up'], result);
    expect(result.code, shown).toBe(2);
    expect(result.stderr, shown).toMatch(WAITING);
    expect(result.stderr, shown).toMatch(/needs 5 replicas \(DAQFLOW_STREAM_REPLICAS\) and the cluster could not place them \(it names 3 server\(s\)\)/);
  }, 60_000);

  it('warns, and leaves the stream as it is, when DAQFLOW_STREAM_REPLICAS differs from an existing stream\'s', async () => {
    const { env, stream } = await onCluster({ DAQFLOW_STREAM_REPLICAS: '3' });
    await jsm.streams.add(eventStreamConfig({ stream, subjectPrefix: `${env.DAQFLOW_SUBJECT_PREFIX}.events` }, 1));
    const up = await startDaqflowProcess({ env });
    expect(up.stderr()).toMatch(new RegExp(`stream ${stream} has 1 replica\\(s\\) and DAQFLOW_STREAM_REPLICAS asks for 3: \`daqflow up\` does not change an existing stream, \`daqflow stream apply\` does`));
    expect((await jsm.streams.info(stream)).config.num_replicas).toBe(1);
    up.kill('SIGTERM');
    expect((await up.exited).code, up.stderr()).toBe(0);
  }, 60_000);

  describe('a cluster that lost its majority', () => {
    beforeAll(async () => {
      // One of three left: no meta leader, so the JetStream API times out.
      await cluster.nodes[1]?.kill();
      await cluster.nodes[2]?.kill();
    });

    afterAll(async () => {
      for (const node of cluster.nodes) await node.start();
      await cluster.waitForJetStream();
    }, 60_000);

    it('stops after DAQFLOW_START_TIMEOUT_MS with an error that says what to check', async () => {
      const { env } = await onCluster({ DAQFLOW_START_TIMEOUT_MS: '4000' });
      const result = await runCli(['up'], env, 60_000);
      const shown = showResult(['up'], result);
      // (An attempt may take the whole time-out: a JetStream request waits 5 s for its answer.)
      expect(result.code, shown).toBe(1);
      expect(result.stderr, shown).toMatch(
        /^daqflow: JetStream at nats:\/\/127\.0\.0\.1:\d+,\S+ was not ready within 4000 ms \(DAQFLOW_START_TIMEOUT_MS\); last: .+ Check that the nats-server\(s\) in DAQFLOW_NATS_URL run with JetStream on, that a cluster has a majority of its servers up/m,
      );
    }, 60_000);

    it('waits, saying why, and comes up with an R3 stream once the servers are back', async () => {
      const { env, stream } = await onCluster({ DAQFLOW_STREAM_REPLICAS: '3' });
      const up = await startDaqflowProcess({ env, ready: WAITING, timeoutMs: 60_000 });
      expect(up.stdout()).not.toMatch(/daqflow up: ready/);
      await Promise.all([cluster.nodes[1]?.start(), cluster.nodes[2]?.start()]);
      await waitFor('daqflow up to be ready', async () => (/^daqflow up: ready$/m.test(up.stdout()) ? true : undefined), 90_000);
      expect((await jsm.streams.info(stream)).config.num_replicas).toBe(3);
      const args = ['demo', '--steps', '2', '--interval-ms', '50'];
      const demo = await runCli(args, env, 120_000);
      expect(demo.code, showResult(args, demo)).toBe(0);
      expect(demo.stdout, showResult(args, demo)).toMatch(/demo job \S+ ended completed/);
      up.kill('SIGTERM');
      expect((await up.exited).code, up.stderr()).toBe(0);
    }, 180_000);
  });
});
