import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { freePort } from '../../adapters/embedded/freePort.js';
import { findNatsServerBinary, waitForPort } from '../../adapters/embedded/natsServer.js';

/** One nats-server of a cluster; its ports and store stay the same across a kill and a start. */
export interface ClusterNode {
  readonly name: string;
  /** Client URL, nats://127.0.0.1:port. */
  readonly url: string;
  /** Whether its process runs. */
  running(): boolean;
  /** kill -9: the node is gone at once, its store as the crash left it. */
  kill(): Promise<void>;
  /** Starts it again on the same ports and store (after kill or stop). */
  start(): Promise<void>;
  /** SIGTERM (lame duck and exit), SIGKILL after 5 s. */
  stop(): Promise<void>;
  /** What the node logged so far. */
  log(): string;
  /** Its monitoring endpoint (http://127.0.0.1:port, /connz and the like), when the cluster was started with `monitoring`. */
  readonly monitorUrl?: string;
}

export interface NatsCluster {
  readonly nodes: readonly ClusterNode[];
  /** Every node's client URL, comma-separated, as DAQFLOW_NATS_URL takes them. */
  readonly url: string;
  /** Resolves once JetStream answers through `via` (default: every running node): a meta leader is elected. */
  waitForJetStream(via?: readonly ClusterNode[]): Promise<void>;
  /** Stops every node. */
  stop(): Promise<void>;
}

export interface NatsClusterOptions {
  /** Folder of the configurations, stores and logs. */
  readonly dir: string;
  /** Nodes (default 3). */
  readonly size?: number;
  /** Cluster name (default daqflow-test). */
  readonly name?: string;
  /** A node's configuration instead of the harness's own (e.g. a shipped example made loopback). */
  readonly config?: (node: NodePlace) => string;
  /** Environment of a node's process beyond the test's (a configuration may read variables). */
  readonly env?: (name: string) => Record<string, string>;
  /** Give each node of the harness's own configuration an HTTP monitoring port (ClusterNode.monitorUrl). */
  readonly monitoring?: boolean;
}

/** Where a node is: its name, client and cluster ports, the other nodes' cluster ports and its store. */
export interface NodePlace {
  readonly name: string;
  readonly index: number;
  readonly port: number;
  readonly clusterPort: number;
  /** Cluster ports of every node, this one's included, in node order. */
  readonly clusterPorts: readonly number[];
  readonly store: string;
}

const nodeConfig = (
  name: string,
  port: number,
  clusterPort: number,
  clusterName: string,
  routes: readonly number[],
  store: string,
  monitorPort: number | undefined,
): string => `
server_name: ${name}
listen: 127.0.0.1:${port}
${monitorPort === undefined ? '' : `http: 127.0.0.1:${monitorPort}`}
jetstream { store_dir: "${store}" }
cluster {
  name: ${clusterName}
  listen: 127.0.0.1:${clusterPort}
  routes: [${routes.map((p) => `nats://127.0.0.1:${p}`).join(', ')}]
}
`;

/** How long a node or the cluster may take to come up; a loaded machine elects leaders slowly. */
const START_TIMEOUT_MS = 30_000;

/**
 * A JetStream cluster of `size` nats-server processes on loopback ports, each with its own store:
 * replicated (R3) streams, a node killed with -9 and started again. Every node is killed when
 * this process exits.
 */
export const startNatsCluster = async (options: NatsClusterOptions): Promise<NatsCluster> => {
  const size = options.size ?? 3;
  const clusterName = options.name ?? 'daqflow-test';
  mkdirSync(options.dir, { recursive: true });
  const ports = await Promise.all(
    Array.from({ length: size }, async () => ({
      client: await freePort(),
      cluster: await freePort(),
      monitor: options.monitoring && !options.config ? await freePort() : undefined,
    })),
  );
  const binary = findNatsServerBinary();

  const nodes = ports.map((port, i): ClusterNode => {
    const name = `n${i + 1}`;
    const store = join(options.dir, name);
    const configFile = join(options.dir, `${name}.conf`);
    const logFile = join(options.dir, `${name}.log`);
    const place: NodePlace = { name, index: i, port: port.client, clusterPort: port.cluster, clusterPorts: ports.map((p) => p.cluster), store };
    writeFileSync(
      configFile,
      options.config?.(place) ??
        nodeConfig(name, port.client, port.cluster, clusterName, ports.filter((_, j) => j !== i).map((p) => p.cluster), store, port.monitor),
    );
    const env = { ...process.env, ...options.env?.(name) };
    let child: ChildProcess | undefined;
    const killOnExit = (): void => {
      child?.kill('SIGKILL');
    };
    const alive = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null;
    const ended = (c: ChildProcess): Promise<void> =>
      c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r()));
    return {
      name,
      url: `nats://127.0.0.1:${port.client}`,
      ...(port.monitor === undefined ? {} : { monitorUrl: `http://127.0.0.1:${port.monitor}` }),
      running: alive,
      log: () => {
        try {
          return readFileSync(logFile, 'utf8');
        } catch {
          return '';
        }
      },
      start: async () => {
        if (alive()) return;
        const out = openSync(logFile, 'a');
        child = spawn(binary, ['-c', configFile], { stdio: ['ignore', out, out], env });
        closeSync(out);
        process.once('exit', killOnExit);
        try {
          await waitForPort(port.client, child, START_TIMEOUT_MS);
        } catch (e) {
          child.kill('SIGKILL');
          throw new Error(`${name}: ${(e as Error).message}; its log:\n${readFileSync(logFile, 'utf8').slice(-2_000)}`, { cause: e });
        }
      },
      kill: async () => {
        const c = child;
        if (!c || !alive()) return;
        process.removeListener('exit', killOnExit);
        c.kill('SIGKILL');
        await ended(c);
      },
      stop: async () => {
        const c = child;
        if (!c || !alive()) return;
        process.removeListener('exit', killOnExit);
        c.kill('SIGTERM');
        const timer = setTimeout(() => c.kill('SIGKILL'), 5_000);
        await ended(c);
        clearTimeout(timer);
      },
    };
  });

  const waitForJetStream = async (via: readonly ClusterNode[] = nodes.filter((n) => n.running())): Promise<void> => {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (const node of via) {
      for (;;) {
        const answered = await (async () => {
          const nc = await connect({ servers: node.url, timeout: 2_000 });
          try {
            // Fails (503, no responders) until the meta group has a leader this node knows.
            await (await jetstreamManager(nc, { timeout: 2_000 })).getAccountInfo();
            return true;
          } finally {
            await nc.close();
          }
        })().catch(() => false);
        if (answered) break;
        if (Date.now() > deadline) throw new Error(`JetStream of the cluster did not answer through ${node.name} within ${START_TIMEOUT_MS} ms; its log:\n${node.log().slice(-2_000)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };

  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    await Promise.all(nodes.map((n) => n.start()));
    await waitForJetStream();
  } catch (e) {
    await Promise.all(nodes.map((n) => n.kill()));
    throw e;
  }
  return { nodes, url: nodes.map((n) => n.url).join(','), waitForJetStream, stop };
};
