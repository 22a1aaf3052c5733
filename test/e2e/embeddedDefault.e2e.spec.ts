import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { killAllDaqflowProcesses, runCli, showResult, startDaqflowProcess } from '../harness/daqflowProcess.js';
import { killProcessesMentioning, processesMentioning, type ProcessEntry } from '../harness/processTable.js';
import { tempHome, waitFor } from './e2eHelpers.js';

/*
 * With nothing configured, `daqflow up` runs its own nats-server and PostgreSQL under its home;
 * after a SIGKILL, the next `up` adopts the servers left behind and keeps the data; a clean
 * stop leaves nothing running.
 */

const home = tempHome('embedded');
const env = { DAQFLOW_HOME: home, DAQFLOW_LOG_LEVEL: 'warn' };

const servers = (): { nats: ProcessEntry[]; postgres: ProcessEntry[] } => {
  const all = processesMentioning(home);
  return {
    nats: all.filter((p) => p.cmdline.includes('nats-server')),
    postgres: all.filter((p) => /\bpostgres\b.* -D /.test(p.cmdline)),
  };
};

afterAll(async () => {
  await killAllDaqflowProcesses();
  // Whatever a failed run left behind under the temp home goes too.
  killProcessesMentioning(home);
  rmSync(home, { recursive: true, force: true });
});

describe('daqflow up with nothing configured', () => {
  it('runs its own servers, survives a SIGKILL by adopting them, and leaves nothing behind on a clean stop', async () => {
    // --- first run: initialises PostgreSQL and the JetStream store under the home ------------
    const first = await startDaqflowProcess({ env });
    const firstPid = first.child.pid as number;
    const own = servers();
    expect(own.nats.map((p) => p.ppid), `${first.stdout()}\n${first.stderr()}`).toEqual([firstPid]);
    expect(own.postgres.map((p) => p.ppid)).toEqual([firstPid]);
    expect(existsSync(join(home, 'postgres', 'PG_VERSION'))).toBe(true);
    expect(existsSync(join(home, 'nats'))).toBe(true);
    // Not the test run's servers: the URL it printed is a server of its own.
    const natsShown = /nats\s+(nats:\/\/\S+)/.exec(first.stdout())?.[1];
    expect(natsShown).toBeDefined();
    expect(natsShown).not.toBe(inject('natsUrl'));

    // --- a demo through the running `up` (the tool borrows its servers) ------------------------
    const demoArgs = ['demo', '--steps', '2', '--interval-ms', '50'];
    const demo = await runCli(demoArgs, env);
    const shown = showResult(demoArgs, demo);
    expect(demo.code, shown).toBe(0);
    expect(demo.stdout, shown).toContain('completed');
    expect(demo.stderr, 'the demo used the running daqflow up').not.toContain('running one in this process');
    const demoId = /demo job (\S+) ended completed/.exec(demo.stdout)?.[1];
    expect(demoId, shown).toBeDefined();

    // --- SIGKILL: the servers stay behind, orphaned --------------------------------------------
    first.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    const orphans = servers();
    expect(orphans.nats.map((p) => p.pid)).toEqual(own.nats.map((p) => p.pid));
    expect(orphans.postgres.map((p) => p.pid)).toEqual(own.postgres.map((p) => p.pid));

    // --- second run: adopts them and keeps the data -------------------------------------------
    const second = await startDaqflowProcess({ env });
    expect(second.stderr()).toContain('reusing the nats-server a previous run left behind');
    expect(second.stderr()).toContain('reusing the PostgreSQL a previous run left behind');
    const adopted = servers();
    expect(adopted.nats.map((p) => p.pid), 'no second nats-server').toEqual(own.nats.map((p) => p.pid));
    expect(adopted.postgres.map((p) => p.pid), 'no second PostgreSQL').toEqual(own.postgres.map((p) => p.pid));

    const status = await runCli(['status', '--json'], env);
    expect(status.code, showResult(['status', '--json'], status)).toBe(0);
    const items = (JSON.parse(status.stdout) as { items: Array<Record<string, unknown>> }).items;
    expect(items.find((i) => i.id === demoId), status.stdout).toMatchObject({ kind: 'demo', state: 'completed', final: true });

    // --- a clean stop takes the adopted servers down too ---------------------------------------
    second.kill('SIGINT');
    const exit = await second.exited;
    expect(exit, `${second.stdout()}\n${second.stderr()}`).toEqual({ code: 0, signal: null });
    expect(second.stdout()).toContain('daqflow up: stopped');
    await waitFor(
      () => `no process mentioning ${home}: ${JSON.stringify(processesMentioning(home))}`,
      async () => (processesMentioning(home).length === 0 ? true : undefined),
      15_000,
      100,
    );
  }, 90_000);
});
