import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AcquisitionView } from '../../actors/acquisitions/index.js';
import { startBsreadSimulator } from '../../adapters/bsread/bsreadSimulator.js';
import { simulatedChannels } from '../../adapters/cli/simulate.js';
import { repoRoot, runCli, showResult, startDaqflowProcess } from '../harness/daqflowProcess.js';
import { getJson, httpUrlOf } from '../harness/httpEndpoints.js';
import { checkFileAgainstSimulator } from '../harness/swissfelReadBack.js';
import { apiRequest, useE2eEnvironments, waitFor, type DaqflowEnvironment } from './e2eHelpers.js';

/*
 * `npm run build` and the CLI it makes, run with plain node: no module it loads is TypeScript or
 * tsx's loader (a module-resolution hook records every module), and `daqflow up` from the build runs
 * the demo, an acquisition through the HDF5 writer thread and the projector on its worker thread,
 * whose compiled entries are the only ones the build has (it holds no .ts files).
 */

const e2e = useE2eEnvironments('built-cli');
const SCALARS = 2;
const START = 7_000_000;
const RATE = 100;
const PORT = 21_000 + Math.floor(Math.random() * 2_000);
let environment: DaqflowEnvironment;
let outDir: string;
let builtCli: string;
let hook: string;
let env: Record<string, string>;
let dataRoot: string;

/** A node `--import` file that appends the URL of every module resolved to $DAQFLOW_TEST_MODULE_LOG. */
const writeModuleRecorder = (dir: string): string => {
  const hooks = join(dir, 'recordModules.hooks.mjs');
  writeFileSync(
    hooks,
    "import { appendFileSync } from 'node:fs';\n" +
      'export async function resolve(specifier, context, next) {\n' +
      '  const result = await next(specifier, context);\n' +
      "  appendFileSync(process.env.DAQFLOW_TEST_MODULE_LOG, result.url + '\\n');\n" +
      '  return result;\n' +
      '}\n',
  );
  const register = join(dir, 'recordModules.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  return register;
};

/** The modules a run resolved, as recorded; and those of them that are TypeScript or tsx. */
const modulesOf = (log: string): { all: string[]; typescript: string[] } => {
  const all = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  return { all, typescript: all.filter((url) => /\.[cm]?tsx?$/.test(url) || url.includes('/node_modules/tsx/')) };
};

beforeAll(async () => {
  environment = await e2e.create();
  dataRoot = join(e2e.home, `data-${environment.token}`);
  mkdirSync(dataRoot, { recursive: true });
  env = {
    ...environment.env,
    DAQFLOW_DATA_ROOT: dataRoot,
    DAQFLOW_BSREAD_STREAM: `tcp://127.0.0.1:${PORT}`,
    DAQFLOW_BSREAD_MODE: 'pull',
    DAQFLOW_BUFFER_LENGTH: '3000',
  };
  // Inside the repository, so that node_modules resolves; test-results/ is ignored by git.
  outDir = join(repoRoot, 'test-results', `build-${environment.token}`);
  builtCli = join(outDir, 'bin', 'daqflow.js');
  hook = writeModuleRecorder(e2e.home);
  const build = spawn(process.execPath, [join(repoRoot, 'scripts', 'build.mjs'), '--out-dir', outDir], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  build.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
  build.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
  const code = await new Promise<number | null>((resolve) => build.once('exit', resolve));
  if (code !== 0) throw new Error(`npm run build failed (${code}):\n${output}`);
}, 300_000);

afterAll(() => {
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

describe('the built CLI, with plain node', () => {
  it('--help runs from the build and loads no TypeScript and no tsx', async () => {
    const log = join(e2e.home, 'help-modules.log');
    const result = await runCli(['--help'], { ...env, DAQFLOW_TEST_MODULE_LOG: log }, 60_000, builtCli, ['--import', pathToFileURL(hook).href]);
    expect(result.code, showResult(['--help'], result)).toBe(0);
    expect(result.stdout).toMatch(/^Usage: daqflow /);
    const modules = modulesOf(log);
    // The recorder saw the build's CLI itself, or it recorded nothing and proves nothing.
    expect(modules.all).toContain(pathToFileURL(join(outDir, 'adapters', 'cli', 'main.js')).href);
    expect(modules.typescript).toEqual([]);
  });

  it('daqflow up from the build runs the demo, an acquisition on the writer thread and the projector thread', async () => {
    const log = join(e2e.home, 'up-modules.log');
    await startDaqflowProcess({
      cli: builtCli,
      args: ['simulate', 'bsread', '--address', `tcp://127.0.0.1:${PORT}`, '--rate', String(RATE), '--scalars', String(SCALARS), '--start-pulse', String(START)],
      ready: /bsread simulator: push on/,
    });
    const up = await startDaqflowProcess({
      cli: builtCli,
      nodeArgs: ['--import', pathToFileURL(hook).href],
      env: { ...env, DAQFLOW_PROJECTOR: 'thread', DAQFLOW_HTTP: '127.0.0.1:0', DAQFLOW_TEST_MODULE_LOG: log },
      timeoutMs: 120_000,
    });
    const url = httpUrlOf(up);
    const demo = await runCli(['demo', '--steps', '3', '--interval-ms', '50'], env, 120_000, builtCli);
    expect(demo.code, showResult(['demo'], demo)).toBe(0);
    expect(demo.stdout).toMatch(/completed/);

    // An acquisition of 50 pulses a moment ahead, written on the HDF5 writer thread.
    const nc = await (await import('@nats-io/transport-node')).connect({ servers: inject('natsUrl') });
    try {
      const subject = `${environment.prefix}.acquisitions.start`;
      const from = await waitFor('pulses in the buffer', async () => {
        const r = await apiRequest(nc, subject, { outputFile: 'probe.h5', startNow: true }, 5_000);
        if (r.kind !== 'ok') return undefined;
        await apiRequest(nc, `${environment.prefix}.acquisitions.kill`, { id: r.body['id'] }, 5_000);
        const id = r.body['startPulseId'];
        return typeof id === 'number' ? id : undefined;
      }, 30_000);
      const first = from + 100;
      const acquire = await runCli(['acquire', 'start', '-o', 'built/run.h5', '--start-pulse', String(first), '--stop-pulse', String(first + 49), '--json'], env, 120_000, builtCli);
      expect(acquire.code, showResult(['acquire', 'start'], acquire)).toBe(0);
      const view = JSON.parse(acquire.stdout) as AcquisitionView;
      expect([view.state, view.pulsesWritten]).toEqual(['completed', 50]);
      const mirror = await startBsreadSimulator({ address: 'inproc://built-expected', rateHz: 1, channels: simulatedChannels({ scalars: SCALARS }), startPulseId: START, maxMessages: 1 });
      await mirror.stop();
      await checkFileAgainstSimulator(join(dataRoot, 'built', 'run.h5'), (p) => mirror.expected(p), { first, last: first + 49 });
    } finally {
      await nc.close();
    }

    // The projector thread caught up (readiness asks for it) and the pages' files were copied.
    await waitFor('/readyz to answer ready', async () => ((await getJson(`${url}/readyz`)).status === 200 ? true : undefined), 30_000);
    const jobs = await fetch(`${url}/api/jobs?kind=demo`);
    expect(((await jobs.json()) as { total: number }).total).toBeGreaterThanOrEqual(1);
    expect((await fetch(`${url}/assets/jobs.js`)).status).toBe(200);

    const modules = modulesOf(log);
    expect(modules.all).toContain(pathToFileURL(join(outDir, 'adapters', 'cli', 'up.js')).href);
    expect(modules.typescript).toEqual([]);
    up.kill('SIGTERM');
    expect((await up.exited).code).toBe(0);
  }, 300_000);

  it('up --no-install, with nats-server missing, refuses with an error naming the package and what to do', async () => {
    const { DAQFLOW_NATS_URL: _url, ...withoutNats } = env;
    const result = await runCli(['up', '--no-install'], { ...withoutNats, DAQFLOW_NATS_SERVER_BIN: join(e2e.home, 'no-such-nats-server'), DAQFLOW_HOME: join(e2e.home, 'no-install') }, 60_000, builtCli);
    const shown = showResult(['up', '--no-install'], result);
    expect(result.code, shown).not.toBe(0);
    expect(result.stderr, shown).toMatch(/nats-server not found, and --no-install \(DAQFLOW_INSTALL=false\) forbids installing the Debian package nats-server/);
    expect(result.stdout, shown).not.toMatch(/installing the Debian package/);
  });
});
