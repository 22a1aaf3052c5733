import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killAllDaqflowProcesses, repoRoot, runCli, showResult, startDaqflowProcess } from '../harness/daqflowProcess.js';
import { startNatsCluster, type NatsCluster, type NodePlace } from '../harness/natsCluster.js';
import { useE2eEnvironments, type DaqflowEnvironment } from './e2eHelpers.js';

/*
 * docs/multi-host.md, run: the three-node configuration it shows is the shipped
 * examples/nats-server/cluster.conf, which is started three times with its host names, ports and
 * store folder made loopback ones (nothing else changed); then the daqflow commands the page
 * shows run against it, and print what the page says they print.
 */

const doc = readFileSync(join(repoRoot, 'docs', 'multi-host.md'), 'utf8');
const example = readFileSync(join(repoRoot, 'examples', 'nats-server', 'cluster.conf'), 'utf8');
const HOSTS = ['nats1', 'nats2', 'nats3'];

/** The page's fenced blocks of one language, in order. */
const blocks = (language: string): string[] => [...doc.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1] as string);

/** The example with the hosts' addresses and the store folder of `node` on loopback. */
const onLoopback = (node: NodePlace): string => {
  let text = example
    .replace('listen: 0.0.0.0:4222', `listen: 127.0.0.1:${node.port}`)
    .replace('listen: 0.0.0.0:6222', `listen: 127.0.0.1:${node.clusterPort}`)
    .replace('store_dir: /var/lib/nats/jetstream', `store_dir: "${node.store}"`);
  HOSTS.forEach((host, i) => (text = text.replace(`nats-route://${host}:6222`, `nats-route://127.0.0.1:${node.clusterPorts[i]}`)));
  return text;
};

interface ShownCommand {
  readonly line: string;
  readonly env: Record<string, string>;
  readonly args: string[];
  /** What the page's comment says it prints. */
  readonly prints?: string;
}

/** `VAR=value … npx daqflow args   # prints` lines of a shell block; `export` lines set variables for the lines after them. */
const shownCommands = (block: string): ShownCommand[] => {
  const exported: Record<string, string> = {};
  const commands: ShownCommand[] = [];
  for (const line of block.split('\n')) {
    const [code = '', comment] = line.split(/\s{2,}#\s/);
    const words = code.trim().split(/\s+/).filter(Boolean);
    if (words[0] === 'export') {
      for (const word of words.slice(1)) exported[word.slice(0, word.indexOf('='))] = word.slice(word.indexOf('=') + 1);
      continue;
    }
    const at = words.indexOf('npx');
    if (at < 0 || words[at + 1] !== 'daqflow') continue;
    const env = { ...exported, ...Object.fromEntries(words.slice(0, at).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)])) };
    commands.push({ line, env, args: words.slice(at + 2), ...(comment ? { prints: comment.trim() } : {}) });
  }
  return commands;
};

const e2e = useE2eEnvironments('multi-host');
let cluster: NatsCluster;
let environment: DaqflowEnvironment;

beforeAll(async () => {
  const dir = join(e2e.home, 'cluster');
  mkdirSync(dir, { recursive: true });
  cluster = await startNatsCluster({ dir, config: onLoopback, env: (name) => ({ NATS_SERVER_NAME: HOSTS[Number(name.slice(1)) - 1] as string }) });
  environment = await e2e.create();
}, 90_000);

afterEach(async () => {
  await killAllDaqflowProcesses();
});

afterAll(async () => {
  await cluster?.stop();
});

/** A shown command's variables on this test's cluster and database, with the page's stream and prefix (the cluster is the test's own). */
const envOf = (shown: ShownCommand): Record<string, string> => {
  const env: Record<string, string> = {
    ...environment.env,
    DAQFLOW_STREAM: 'DAQFLOW_EVENTS',
    DAQFLOW_SUBJECT_PREFIX: 'daqflow',
    ...shown.env,
  };
  if (env.DAQFLOW_NATS_URL) {
    expect(env.DAQFLOW_NATS_URL).toBe(HOSTS.map((h) => `nats://${h}:4222`).join(','));
    env.DAQFLOW_NATS_URL = cluster.url;
  }
  if (env.DAQFLOW_DATABASE_URL) env.DAQFLOW_DATABASE_URL = environment.database.url;
  return env;
};

describe('docs/multi-host.md', () => {
  it('shows examples/nats-server/cluster.conf as it is, and the servers it makes form one JetStream cluster named by the file', async () => {
    expect(blocks('conf')).toEqual([example]);
    for (const host of HOSTS) expect(doc).toContain(`NATS_SERVER_NAME=${host} nats-server -c cluster.conf   # on ${host}`);
    const nc = await connect({ servers: cluster.nodes[0]?.url });
    try {
      const info = nc.info as { server_name?: string; cluster?: string; connect_urls?: string[] } | undefined;
      expect(info?.server_name).toBe('nats1');
      expect(info?.cluster).toBe('daqflow');
      expect(info?.connect_urls?.length).toBe(3);
    } finally {
      await nc.close();
    }
  });

  it('runs the stream commands of the page, printing what it says', async () => {
    const block = blocks('sh').find((b) => b.includes('daqflow stream apply')) as string;
    const commands = shownCommands(block);
    expect(commands.map((c) => c.args.join(' '))).toEqual(['stream apply', 'stream check']);
    for (const shown of commands) {
      const result = await runCli(shown.args, envOf(shown));
      const text = showResult(shown.args, result);
      expect(result.code, text).toBe(0);
      expect(result.stdout, text).toContain(shown.prints);
    }
  }, 120_000);

  it('starts daqflow up as a host does, on the three-replica stream, and runs jobs', async () => {
    const block = blocks('sh').find((b) => b.includes('export DAQFLOW_DATABASE_URL')) as string;
    const [up] = shownCommands(block);
    expect(up?.args).toEqual(['up']);
    const env = envOf(up as ShownCommand);
    expect(env.DAQFLOW_STREAM_REPLICAS).toBe('3');
    const daqflow = await startDaqflowProcess({ env, timeoutMs: 90_000 });
    const args = ['demo', '--steps', '2', '--interval-ms', '50'];
    const demo = await runCli(args, env, 180_000);
    expect(demo.code, showResult(args, demo)).toBe(0);
    expect(demo.stdout, showResult(args, demo)).toMatch(/demo job \S+ ended completed/);
    const check = await runCli(['stream', 'check'], env);
    expect(check.stdout).toMatch(/^stream DAQFLOW_EVENTS: \d+ messages, 3 replica\(s\)$/m);
    daqflow.kill('SIGTERM');
    expect((await daqflow.exited).code, daqflow.stderr()).toBe(0);
  }, 300_000);
});
