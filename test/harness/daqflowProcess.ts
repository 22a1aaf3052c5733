import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { childrenOf, processGroupMembers } from './processTable.js';
import { fileURLToPath } from 'node:url';

/** The repository root: the CLI runs from here, as `npx daqflow` would. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = resolve(repoRoot, 'bin', 'daqflow.js');

const READY = /^daqflow up: ready$/m;
const DEFAULT_TIMEOUT_MS = 60_000;

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A running `daqflow` child process (usually `daqflow up`). */
export interface DaqflowProcess {
  readonly child: ChildProcess;
  /** Everything the process printed on stdout so far. */
  stdout(): string;
  /** Everything the process printed on stderr so far. */
  stderr(): string;
  /** Sends `signal` to the process itself (not to the servers it started). */
  kill(signal: NodeJS.Signals): void;
  /** Settles when the process has exited (never rejects). */
  readonly exited: Promise<Exit>;
}

export interface StartOptions {
  /** DAQFLOW_* (and other) variables; every DAQFLOW_* of the test process is removed first. */
  readonly env?: Readonly<Record<string, string>>;
  readonly args?: readonly string[];
  /** How long to wait for `daqflow up: ready` (default 60 s). */
  readonly timeoutMs?: number;
  /** What to wait for instead of `daqflow up: ready`, on stdout or stderr (for commands other than `up`). */
  readonly ready?: RegExp;
  /** The CLI script to run (default bin/daqflow.js of the repository), e.g. a build's bin/daqflow.js. */
  readonly cli?: string;
  /** Options for node itself, before the script (e.g. `--import`). */
  readonly nodeArgs?: readonly string[];
}

/** Children whose process group may still have members: group id → child. Each child leads its own group. */
const live = new Map<number, ChildProcess>();


const killGroup = (pid: number): void => {
  // The servers `daqflow up` starts lead process groups of their own (so that a terminal's
  // Ctrl-C reaches daqflow alone): they go by pid, found before their parent goes.
  for (const child of childrenOf(pid)) {
    try {
      process.kill(child, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  try {
    // The whole group: `daqflow up` and the servers it started (nats-server, postgres), also
    // those orphaned when `up` itself was killed.
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
};

process.once('exit', () => {
  for (const pid of live.keys()) killGroup(pid);
});

/**
 * SIGKILLs every child (and its process group) started here that may still run. For
 * afterEach/afterAll, so that no daqflow survives a failed test.
 */
export const killAllDaqflowProcesses = async (): Promise<void> => {
  const waits: Promise<unknown>[] = [];
  for (const [pid, child] of live) {
    if (child.exitCode === null && child.signalCode === null) {
      waits.push(new Promise((r) => child.once('exit', r)));
      killGroup(pid);
    } else if (processGroupMembers(pid).length > 0) {
      killGroup(pid);
    }
  }
  live.clear();
  await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, 5_000))]);
};

/**
 * process.env without any DAQFLOW_* variable, plus `env`. No HTTP server unless `env` asks for
 * one (DAQFLOW_HTTP): spec files run in parallel, and the default port would make them collide.
 */
export const cleanEnv = (env: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv => {
  const out: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('DAQFLOW_')) out[key] = value;
  }
  return { ...out, DAQFLOW_HTTP: 'none', ...env };
};

const tail = (text: string, lines = 30): string => text.split('\n').slice(-lines).join('\n');

const spawnCli = (args: readonly string[], env: Readonly<Record<string, string>> | undefined, script = cli, nodeArgs: readonly string[] = []) => {
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
    cwd: repoRoot,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so that cleanup can take the servers it starts along with it.
    detached: true,
  });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<Exit>((resolveExit) => {
    child.once('exit', (code, signal) => {
      // Wait for the pipes to drain so that the last lines are in the buffers.
      let open = 2;
      const done = (): void => {
        if (--open === 0) resolveExit({ code, signal });
      };
      if (child.stdout && !child.stdout.readableEnded) child.stdout.once('close', done);
      else done();
      if (child.stderr && !child.stderr.readableEnded) child.stderr.once('close', done);
      else done();
    });
    child.once('error', () => resolveExit({ code: null, signal: null }));
  });
  if (child.pid !== undefined) {
    const pid = child.pid;
    live.set(pid, child);
    // Forget the group once nothing of it runs any more, so that a reused pid is never hit.
    void exited.then(() => {
      if (processGroupMembers(pid).length === 0 && live.get(pid) === child) live.delete(pid);
    });
  }
  return { child, exited, stdout: () => out, stderr: () => err };
};

/**
 * Spawns `node bin/daqflow.js ...args` (default `up`) in the repository and resolves once it
 * printed `daqflow up: ready`. Rejects, with the tail of its stderr, when it exits first or is
 * not ready within the timeout (then it is killed).
 */
export const startDaqflowProcess = async (options: StartOptions = {}): Promise<DaqflowProcess> => {
  const args = options.args ?? ['up'];
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const { child, exited, stdout, stderr } = spawnCli(args, options.env, options.cli, options.nodeArgs);
  const handle: DaqflowProcess = {
    child,
    stdout,
    stderr,
    kill: (signal) => {
      if (child.pid === undefined) return;
      try {
        process.kill(child.pid, signal);
      } catch {
        // already gone
      }
    },
    exited,
  };
  await new Promise<void>((resolveReady, reject) => {
    const describe = (why: string): Error =>
      new Error(`daqflow ${args.join(' ')}: ${why}\n--- stderr (tail) ---\n${tail(stderr())}\n--- stdout (tail) ---\n${tail(stdout())}`);
    const timer = setTimeout(() => {
      cleanup();
      if (child.pid !== undefined) killGroup(child.pid);
      reject(describe(`not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    const ready = options.ready;
    const onData = (): void => {
      if (ready ? ready.test(stdout()) || ready.test(stderr()) : READY.test(stdout())) {
        cleanup();
        resolveReady();
      }
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
    };
    child.stdout?.on('data', onData);
    if (ready) child.stderr?.on('data', onData);
    void exited.then((exit) => {
      cleanup();
      reject(describe(`exited before ready (code ${exit.code}, signal ${exit.signal})`));
    });
    onData();
  });
  return handle;
};

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one CLI command to its end (killed after `timeoutMs`, default 60 s); `script` and `nodeArgs` as in StartOptions. */
export const runCli = async (
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
  timeoutMs = DEFAULT_TIMEOUT_MS,
  script: string = cli,
  nodeArgs: readonly string[] = [],
): Promise<CliResult> => {
  const { child, exited, stdout, stderr } = spawnCli(args, env, script, nodeArgs);
  const timer = setTimeout(() => {
    if (child.pid !== undefined) killGroup(child.pid);
  }, timeoutMs);
  const exit = await exited;
  clearTimeout(timer);
  return { code: exit.code, signal: exit.signal, stdout: stdout(), stderr: stderr() };
};

/** Renders a CLI result for an assertion message. */
export const showResult = (args: readonly string[], result: CliResult): string =>
  `daqflow ${args.join(' ')} → code ${result.code} signal ${result.signal}\n--- stdout ---\n${tail(result.stdout)}\n--- stderr ---\n${tail(result.stderr)}`;
