import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventStreamConfig } from '../../adapters/jetstream/eventStream.js';
import { killAllDaqflowProcesses, runCli, showResult, startDaqflowProcess } from '../harness/daqflowProcess.js';
import { startNatsCluster, type NatsCluster } from '../harness/natsCluster.js';
import { useE2eEnvironments, waitFor, type DaqflowEnvironment } from './e2eHelpers.js';

/*
 * daqflow on a three-node JetStream cluster, given every node's URL: an R3 stream the operator
 * made stays R3 under `daqflow up`, which runs jobs on it, also after the node leading the
 * stream is killed; DAQFLOW_STREAM_REPLICAS=3 makes `daqflow up` create an R3 stream, and
 * `daqflow stream apply` move an R1 stream to three.
 */

const e2e = useE2eEnvironments('nats-cluster');
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
  // A test that failed with a node killed leaves the next one a whole cluster all the same.
  const down = cluster.nodes.filter((n) => !n.running());
  for (const node of down) await node.start();
  if (down.length > 0) await cluster.waitForJetStream();
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await cluster?.stop();
});

/** A daqflow environment (database, stream, prefix) on the cluster, every node's URL comma-separated. */
const onCluster = async (): Promise<DaqflowEnvironment & { readonly clusterEnv: Record<string, string> }> => {
  const environment = await e2e.create();
  return { ...environment, clusterEnv: { ...environment.env, DAQFLOW_NATS_URL: cluster.url } };
};

const runDemo = async (env: Record<string, string>): Promise<void> => {
  const args = ['demo', '--steps', '2', '--interval-ms', '50'];
  const demo = await runCli(args, env, 120_000);
  expect(demo.code, showResult(args, demo)).toBe(0);
  expect(demo.stdout, showResult(args, demo)).toMatch(/demo job \S+ ended completed/);
};

/** The stream's replicas as the cluster reports them: its leader and the followers that are current. */
const replicasOf = async (stream: string): Promise<{ configured: number; leader?: string; current: number }> => {
  const info = await jsm.streams.info(stream);
  return {
    configured: info.config.num_replicas,
    leader: info.cluster?.leader,
    current: 1 + (info.cluster?.replicas ?? []).filter((r) => r.current && !r.offline).length,
  };
};

describe('daqflow on a three-node NATS cluster', () => {
  it("leaves the operator's R3 stream R3 and runs jobs on it, also with the stream's leader killed", async () => {
    const environment = await onCluster();
    await jsm.streams.add(eventStreamConfig({ stream: environment.stream, subjectPrefix: `${environment.prefix}.events` }, 3));
    await waitFor('the R3 stream to have three current replicas', async () => ((await replicasOf(environment.stream)).current === 3 ? true : undefined), 30_000);

    const check = await runCli(['stream', 'check'], environment.clusterEnv);
    expect(check.code, showResult(['stream', 'check'], check)).toBe(0);
    expect(check.stdout, showResult(['stream', 'check'], check)).toMatch(new RegExp(`^stream ${environment.stream}: 0 messages, 3 replica\\(s\\)$`, 'm'));

    const up = await startDaqflowProcess({ env: environment.clusterEnv });
    await runDemo(environment.clusterEnv);
    expect((await replicasOf(environment.stream)).configured).toBe(3);

    // The node leading the stream goes: another takes over, the client moves to another URL.
    const { leader } = await replicasOf(environment.stream);
    const leaderNode = cluster.nodes.find((n) => n.name === leader);
    expect(leaderNode, `leader ${leader}`).toBeDefined();
    await leaderNode?.kill();
    await waitFor(
      'another node to lead the stream',
      async () => {
        const now = await replicasOf(environment.stream).catch(() => undefined);
        return now?.leader !== undefined && now.leader !== leader ? true : undefined;
      },
      30_000,
    );
    await runDemo(environment.clusterEnv);
    await leaderNode?.start();
    await cluster.waitForJetStream();

    up.kill('SIGTERM');
    expect((await up.exited).code, up.stderr()).toBe(0);
    const after = await replicasOf(environment.stream);
    expect(after.configured).toBe(3);
    expect(up.stderr()).not.toMatch(/differs from what daqflow needs/);
  }, 240_000);

  it('creates an R3 stream on an empty cluster with DAQFLOW_STREAM_REPLICAS=3', async () => {
    const environment = await onCluster();
    const up = await startDaqflowProcess({ env: { ...environment.clusterEnv, DAQFLOW_STREAM_REPLICAS: '3' } });
    const created = await replicasOf(environment.stream);
    expect(created.configured).toBe(3);
    await waitFor('three current replicas', async () => ((await replicasOf(environment.stream)).current === 3 ? true : undefined), 30_000);
    await runDemo(environment.clusterEnv);
    up.kill('SIGTERM');
    expect((await up.exited).code, up.stderr()).toBe(0);
  }, 120_000);

  it('daqflow stream apply moves a stream to three replicas only when DAQFLOW_STREAM_REPLICAS asks for it', async () => {
    const environment = await onCluster();
    const created = await runCli(['stream', 'apply'], environment.clusterEnv);
    expect(created.stdout, showResult(['stream', 'apply'], created)).toMatch(/created \(1 replica\(s\)/);
    const replicated = await runCli(['stream', 'apply'], { ...environment.clusterEnv, DAQFLOW_STREAM_REPLICAS: '3' });
    expect(replicated.code, showResult(['stream', 'apply'], replicated)).toBe(0);
    expect(replicated.stdout, showResult(['stream', 'apply'], replicated)).toMatch(/^ {2}operator {2}num_replicas +1 → 3$/m);
    expect((await replicasOf(environment.stream)).configured).toBe(3);
  }, 60_000);
});
