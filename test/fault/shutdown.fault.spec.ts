import { rmSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { killAllDaqflowProcesses, runCli, showResult, startDaqflowProcess, type DaqflowProcess, type Exit } from '../harness/daqflowProcess.js';
import { createTestDatabase, type TestDatabase } from '../harness/testDatabase.js';
import { uniqueToken } from '../harness/testNames.js';
import { childrenOf, isAlive, killProcessesMentioning, processesMentioning } from '../harness/processTable.js';
import { tempHome } from '../e2e/e2eHelpers.js';

/*
 * `daqflow up` stops when it is asked to: a terminal's Ctrl-C (SIGINT to the whole process
 * group, as a terminal sends it) or a service manager's SIGTERM ends it with exit code 0 within
 * its stop bound (DAQFLOW_SHUTDOWN_TIMEOUT_MS, default 10 s: past it the exit code is 1), and no
 * server it started is left running. With a nats-server child, its client used to keep
 * reconnecting to the child that Ctrl-C had stopped first, and the process never exited.
 */

const homes: string[] = [];
const databases: TestDatabase[] = [];

afterEach(async () => {
  await killAllDaqflowProcesses();
  for (const home of homes) killProcessesMentioning(home);
});

afterAll(async () => {
  for (const database of databases.splice(0)) await database.drop();
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

/** Waits for the exit; a process still there after `ms` (well past the stop bound) is a hang. */
const exitWithin = async (daqflow: DaqflowProcess, ms: number): Promise<Exit | 'still running'> => {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([daqflow.exited, new Promise<'still running'>((r) => (timer = setTimeout(() => r('still running'), ms)))]);
  clearTimeout(timer);
  return result;
};

const ctrlC = (daqflow: DaqflowProcess): void => {
  // The harness starts each daqflow as the leader of its own process group, as a shell job is.
  process.kill(-(daqflow.child.pid as number), 'SIGINT');
};

const demo = async (env: Record<string, string>): Promise<void> => {
  const args = ['demo', '--steps', '2', '--interval-ms', '50'];
  const result = await runCli(args, env);
  expect(result.code, showResult(args, result)).toBe(0);
};

describe('daqflow up stops when asked', () => {
  it('embedded default: Ctrl-C after the demo exits 0 and leaves no server running', async () => {
    const home = tempHome('ctrl-c');
    homes.push(home);
    const env = { DAQFLOW_HOME: home, DAQFLOW_LOG_LEVEL: 'info' };
    const daqflow = await startDaqflowProcess({ env, timeoutMs: 90_000 });
    const servers = childrenOf(daqflow.child.pid as number);
    expect(processesMentioning(home).filter((p) => /nats-server|postgres/.test(p.cmdline)).length, 'its own nats-server and PostgreSQL').toBeGreaterThanOrEqual(2);
    await demo(env);
    ctrlC(daqflow);
    const exit = await exitWithin(daqflow, 20_000);
    expect(exit, `${daqflow.stdout()}\n${daqflow.stderr()}`).toEqual({ code: 0, signal: null });
    expect(daqflow.stdout()).toContain('daqflow up: stopped');
    expect(daqflow.stderr()).not.toContain('unhandled failure');
    expect(servers.filter(isAlive), 'children left running').toEqual([]);
    expect(processesMentioning(home), 'processes of its home left running').toEqual([]);
  }, 180_000);

  it('its own nats-server, idle: SIGTERM exits 0 and stops the child', async () => {
    const home = tempHome('sigterm');
    homes.push(home);
    const database = await createTestDatabase();
    databases.push(database);
    const token = uniqueToken();
    const env = { DAQFLOW_HOME: home, DAQFLOW_DATABASE_URL: database.url, DAQFLOW_STREAM: `T_${token}`, DAQFLOW_SUBJECT_PREFIX: `t_${token}` };
    const daqflow = await startDaqflowProcess({ env });
    expect(processesMentioning(home).filter((p) => p.cmdline.includes('nats-server'))).toHaveLength(1);
    daqflow.kill('SIGTERM');
    const exit = await exitWithin(daqflow, 20_000);
    expect(exit, `${daqflow.stdout()}\n${daqflow.stderr()}`).toEqual({ code: 0, signal: null });
    expect(processesMentioning(home), 'processes of its home left running').toEqual([]);
  }, 120_000);

  it('external servers: Ctrl-C after the demo exits 0', async () => {
    const home = tempHome('external');
    homes.push(home);
    const database = await createTestDatabase();
    databases.push(database);
    const token = uniqueToken();
    const env = {
      DAQFLOW_HOME: home,
      DAQFLOW_NATS_URL: inject('natsUrl'),
      DAQFLOW_DATABASE_URL: database.url,
      DAQFLOW_STREAM: `T_${token}`,
      DAQFLOW_SUBJECT_PREFIX: `t_${token}`,
    };
    const daqflow = await startDaqflowProcess({ env });
    await demo(env);
    ctrlC(daqflow);
    const exit = await exitWithin(daqflow, 20_000);
    expect(exit, `${daqflow.stdout()}\n${daqflow.stderr()}`).toEqual({ code: 0, signal: null });
    expect(childrenOf(daqflow.child.pid as number)).toEqual([]);
  }, 120_000);
});
