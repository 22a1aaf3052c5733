import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RecordedEvent } from '../../events/envelope.js';
import { DEFAULT_PROJECTOR_NAME } from '../../projections/projector.js';
import { killAllDaqflowProcesses, runCli, showResult, startDaqflowProcess, type DaqflowProcess } from '../harness/daqflowProcess.js';
import { createTestDatabase, type TestDatabase } from '../harness/testDatabase.js';
import { uniqueToken } from '../harness/testNames.js';
import { apiRequest, mapConcurrent, readWholeStream, streamLastPosition, useE2eEnvironments, waitFor, waitForProjector } from './e2eHelpers.js';

const natsUrl = inject('natsUrl');
const e2e = useE2eEnvironments('cli');
let stream: string;
let prefix: string;
let database: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  ({ stream, prefix, database, env } = await e2e.create());
});

const globalOptions = ['--config', '--home', '--nats-url', '--database-url', '--stream', '--subject-prefix', '--log-level'];

/** Each command, and what its --help must name. */
const helpCases: ReadonlyArray<{ readonly args: string[]; readonly names: string[] }> = [
  { args: [], names: ['up', 'demo', 'status', 'history', 'replay', 'migrate', 'acquire', 'grab', 'report', 'stats', 'simulate'] },
  { args: ['report'], names: ['start', 'get', 'cancel', 'schedule', 'render-job', 'reports.yaml'] },
  { args: ['report', 'start'], names: ['[config]', '--mode', '--runner', '--instrument', '--override', '--detach', ...globalOptions] },
  { args: ['acquire'], names: ['start', 'stop', 'kill', 'get', 'DAQFLOW_BSREAD_STREAM'] },
  { args: ['acquire', 'start'], names: ['--output', '--start-pulse', '--stop-pulse', '--channels', '--instrument', '--user', '--detach', ...globalOptions] },
  { args: ['acquire', 'stop'], names: ['<id>', '--pulse', '--follow'] },
  { args: ['simulate', 'bsread'], names: ['--address', '--mode', '--rate', '--scalars', '--image', '--compression', '--byte-order', '--gap-every'] },
  { args: ['grab'], names: ['params', 'events', 'get', 'cancel', 'ParamList.txt'] },
  { args: ['grab', 'params'], names: ['[parameters...]', '--param-file', '--stopat', '--startat', '--days', '--hours', '--minutes', '--seconds', '--draftdir', '--outdir', '--chunk-seconds', '--detach', ...globalOptions] },
  { args: ['grab', 'events'], names: ['--max-evt', '--event-channel', '--first-only', '--stopat', '--days', ...globalOptions] },
  { args: ['grab', 'get'], names: ['<id>', '--follow', '--json'] },
  { args: ['stats'], names: ['list', 'export'] },
  { args: ['up'], names: ['--roles', '--node', 'DAQFLOW_LEASE_TTL_MS', ...globalOptions] },
  { args: ['demo'], names: ['--steps', '--interval-ms', ...globalOptions] },
  { args: ['status'], names: ['--kind', '--state', '--limit', '--json', ...globalOptions] },
  { args: ['history'], names: ['<id>', '--kind', '--json', ...globalOptions] },
  { args: ['replay'], names: ['projections', 'actor'] },
  { args: ['replay', 'projections'], names: globalOptions },
  { args: ['replay', 'actor'], names: ['<id>', '--at', '--kind', '--json', ...globalOptions] },
  { args: ['migrate'], names: globalOptions },
];

describe('daqflow --help and usage errors', () => {
  it('--help of the program and of every command exits 0 and names the command and its options', async () => {
    const results = await mapConcurrent(helpCases, 3, async (c) => ({ c, result: await runCli([...c.args, '--help'], env) }));
    for (const { c, result } of results) {
      const shown = showResult([...c.args, '--help'], result);
      expect(result.code, shown).toBe(0);
      expect(result.stdout, shown).toContain(`Usage: daqflow${c.args.length ? ` ${c.args.join(' ')}` : ''} `);
      for (const name of c.names) expect(result.stdout, `${shown}\nshould name ${name}`).toContain(name);
    }
    // Commands added later are held to the same rule: each one listed has a working --help.
    const program = results[0]?.result.stdout ?? '';
    const commandsSection = /\nCommands:\n([\s\S]*?)\n\n/.exec(program)?.[1] ?? '';
    const listed = [...commandsSection.matchAll(/^ {2}([a-z][a-z-]*) /gm)].map((m) => m[1] as string).filter((name) => name !== 'help');
    const unchecked = listed.filter((name) => !helpCases.some((c) => c.args.length === 1 && c.args[0] === name));
    const extra = await mapConcurrent(unchecked, 3, async (name) => ({ name, result: await runCli([name, '--help'], env) }));
    for (const { name, result } of extra) {
      expect(result.code, showResult([name, '--help'], result)).toBe(0);
      expect(result.stdout).toContain(`Usage: daqflow ${name} `);
    }
    // Each --help is a whole process start (about 3 s here, more on a loaded 2-core runner).
  }, 120_000);

  it.concurrent.for([
    { args: ['frobnicate'], message: /unknown command 'frobnicate'/ },
    { args: ['status', '--limit', '0'], message: /--limit.*invalid/ },
    { args: ['demo', '--steps', 'many'], message: /--steps.*invalid/ },
    { args: ['status', '--no-such-option'], message: /unknown option '--no-such-option'/ },
    { args: ['replay', 'actor', 'x', '--at', 'yesterday-ish'], message: /--at yesterday-ish: not a time/ },
  ])('$args exits non-zero with a message on stderr', async ({ args, message }, { expect }) => {
    const result = await runCli(args, env);
    const shown = showResult(args, result);
    expect(result.code, shown).not.toBe(0);
    expect(result.code, shown).not.toBeNull();
    expect(result.stderr, shown).toMatch(message);
  });
});

describe('daqflow migrate', () => {
  let empty: TestDatabase | undefined;
  afterAll(() => empty?.drop());

  it('migrates an empty database, and says it is up to date the second time', async () => {
    empty = await createTestDatabase({ migrate: false });
    const migrateEnv = { ...env, DAQFLOW_DATABASE_URL: empty.url };
    const first = await runCli(['migrate'], migrateEnv);
    expect(first.code, showResult(['migrate'], first)).toBe(0);
    expect(first.stdout).toMatch(/create_actor_status/);
    expect(first.stdout).toMatch(/\d+ migrations applied/);
    const second = await runCli(['migrate'], migrateEnv);
    expect(second.code, showResult(['migrate'], second)).toBe(0);
    expect(second.stdout).toMatch(/up to date/);
  });
});

describe('daqflow commands beside a running daqflow up', () => {
  let up: DaqflowProcess;
  let nc: NatsConnection;
  let demoId: string;
  let demoEvents: RecordedEvent[];

  beforeAll(async () => {
    up = await startDaqflowProcess({ env });
    nc = await connect({ servers: natsUrl, name: 'e2e-cli-client' });
  });
  afterAll(async () => {
    await nc?.close();
    await killAllDaqflowProcesses();
  });

  it('demo runs a job to completion', async () => {
    const args = ['demo', '--steps', '2', '--interval-ms', '20'];
    const result = await runCli(args, env);
    const shown = showResult(args, result);
    expect(result.code, shown).toBe(0);
    const ended = /demo job (\S+) ended completed/.exec(result.stdout);
    expect(ended, shown).not.toBeNull();
    demoId = ended?.[1] as string;
    expect(result.stdout).toMatch(/stepDone\s+working\s+completed/);
    // The demo's grab run: a file in the data root and a statistics table.
    expect(result.stdout, shown).toMatch(/grab \S+ completed: \S+\/demo\/MLParamData_\d+_\d{8}T230000Z_to_\d{8}T000000Z\.h5/);
    expect(result.stdout, shown).toMatch(/SIM:SINE\s+V\s+3600\s+0\s/);
    expect(result.stdout, shown).toMatch(/SIM:NANS\s+mm\s+3240\s+360\s/);
    demoEvents = (await readWholeStream(natsUrl, stream, prefix)).filter((e) => e.actorId === demoId);
    expect(demoEvents.map((e) => e.state).at(-1)).toBe('completed');
  });

  it('status shows the demo job, as a table and as JSON', async () => {
    // The status tables are a projection: the demo command waited for the history, so they are there.
    const [table, json] = await Promise.all([
      runCli(['status'], env),
      runCli(['status', '--json', '--kind', 'demo', '--state', 'completed'], env),
    ]);
    expect(table.code, showResult(['status'], table)).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`demo\\s+${demoId}\\s+completed\\s+${demoEvents.length}\\s`));
    expect(json.code, showResult(['status', '--json'], json)).toBe(0);
    const items = (JSON.parse(json.stdout) as { items: Array<Record<string, unknown>> }).items;
    expect(items.find((i) => i.id === demoId)).toMatchObject({ kind: 'demo', state: 'completed', final: true, version: demoEvents.length });
  });

  it('history lists every transition of the job, as the stream has them', async () => {
    const [result, json] = await Promise.all([runCli(['history', demoId], env), runCli(['history', demoId, '--json'], env)]);
    const shown = showResult(['history', demoId], result);
    expect(result.code, shown).toBe(0);
    expect(result.stdout, shown).toContain(`demo ${demoId}: ${demoEvents.length} transitions`);
    for (const e of demoEvents) {
      expect(result.stdout, shown).toMatch(new RegExp(`^${e.version}\\s+${e.time.replace(/[.+]/g, '\\$&')}\\s+${e.type}\\s+${e.previousState ?? '\\(new\\)'}\\s+${e.state}\\s+${e.position}\\s`, 'm'));
    }
    expect(json.code, showResult(['history', '--json'], json)).toBe(0);
    expect((JSON.parse(json.stdout) as { events: RecordedEvent[] }).events).toEqual(demoEvents);
  });

  it('replay actor --at the time of the second event gives the state recorded then', async () => {
    const second = demoEvents[1] as RecordedEvent;
    // Everything up to and including that time is folded: an event in the same millisecond too.
    const foldedThen = demoEvents.filter((e) => Date.parse(e.time) <= Date.parse(second.time));
    const expected = foldedThen.at(-1) as RecordedEvent;
    const args = ['replay', 'actor', demoId, '--at', second.time, '--json'];
    const [result, text, now] = await Promise.all([
      runCli(args, env),
      runCli(['replay', 'actor', demoId, '--at', second.time], env),
      runCli(['replay', 'actor', demoId, '--json'], env),
    ]);
    expect(result.code, showResult(args, result)).toBe(0);
    const replayed = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(replayed).toMatchObject({ kind: 'demo', id: demoId, state: expected.state, version: expected.version, eventsFolded: foldedThen.length });
    if (foldedThen.length === 2) expect(replayed.state).toBe('working');

    expect(text.code, showResult(['replay', 'actor'], text)).toBe(0);
    expect(text.stdout).toContain(`demo ${demoId} at ${second.time}: ${expected.state} (version ${expected.version}, ${foldedThen.length} of ${demoEvents.length} events)`);

    expect(JSON.parse(now.stdout)).toMatchObject({ state: 'completed', version: demoEvents.length });
  });

  it('replay actor of an unknown id exits non-zero and says so', async () => {
    const unknown = `no-such-${uniqueToken()}`;
    const [result, history] = await Promise.all([runCli(['replay', 'actor', unknown], env), runCli(['history', unknown], env)]);
    const shown = showResult(['replay', 'actor', unknown], result);
    expect(result.code, shown).not.toBe(0);
    expect(result.code, shown).not.toBeNull();
    expect(result.stderr, shown).toMatch(new RegExp(`no .*actor with id ${unknown}`));
    expect(result.stdout, shown).toBe('');
    expect(history.code, showResult(['history', unknown], history)).not.toBe(0);
    expect(history.stderr).toMatch(new RegExp(`no .*actor with id ${unknown}`));
  });

  it('dropping the projection tables and running replay projections gives tables equal to the ones before', async () => {
    // More kinds of rows than one completed demo: waiting with notes, cancelled, failed.
    const start = async (body: Record<string, unknown>): Promise<string> => {
      const reply = await apiRequest(nc, `${prefix}.demo.start`, body, 5_000);
      if (reply.kind !== 'ok') throw new Error(`start failed: ${JSON.stringify(reply)}`);
      return String(reply.body.id);
    };
    const waiting = await start({ steps: 2, intervalMs: 3_600_000, label: 'waits' });
    const cancelled = await start({ steps: 2, intervalMs: 3_600_000, label: 'cancelled' });
    const failed = await start({ steps: 3, intervalMs: 10, failAtStep: 2, label: 'fails' });
    for (const text of ['one', 'two']) expect((await apiRequest(nc, `${prefix}.demo.note`, { id: waiting, text }, 5_000)).kind).toBe('ok');
    expect((await apiRequest(nc, `${prefix}.demo.cancel`, { id: cancelled, reason: 'test' }, 5_000)).kind).toBe('ok');
    await waitFor(
      'the failing job to fail',
      async () => {
        const view = await apiRequest(nc, `${prefix}.demo.get`, { id: failed }, 5_000);
        return view.kind === 'ok' && view.body.state === 'failed' ? true : undefined;
      },
      10_000,
    );
    const last = await streamLastPosition(natsUrl, stream, prefix);
    await waitForProjector(database, last, 10_000);
    const snapshot = async () => ({
      status: await database.db.selectFrom('actor_status').selectAll().orderBy('kind').orderBy('id').execute(),
      transitions: await database.db.selectFrom('actor_transition').selectAll().orderBy('position').execute(),
    });
    const before = await snapshot();
    // The demo jobs of this file (`daqflow demo` adds a grab run besides its demo job).
    expect(before.status.filter((row) => row.kind === 'demo').length).toBe(4);
    expect(before.transitions.length).toBe(last);

    up.kill('SIGINT');
    const exit = await up.exited;
    expect(exit, up.stderr()).toEqual({ code: 0, signal: null });
    expect(up.stdout()).toContain('daqflow up: stopped');

    await sql`drop table actor_status`.execute(database.db);
    await sql`drop table actor_transition`.execute(database.db);
    const result = await runCli(['replay', 'projections'], env);
    const shown = showResult(['replay', 'projections'], result);
    expect(result.code, shown).toBe(0);
    expect(result.stdout, shown).toMatch(new RegExp(`rebuilt .*: ${last} events up to position ${last}`));
    const after = await snapshot();
    expect(after.status).toEqual(before.status);
    expect(after.transitions).toEqual(before.transitions);
    const checkpoint = await database.db
      .selectFrom('projection_checkpoint')
      .select('position')
      .where('name', '=', DEFAULT_PROJECTOR_NAME)
      .executeTakeFirst();
    expect(Number(checkpoint?.position)).toBe(last);
  });

  it('request sends one request to an endpoint and prints the reply; a refused one exits non-zero', async () => {
    // The test before stopped `up`; this one needs it answering again.
    up = await startDaqflowProcess({ env });
    const body = JSON.stringify({ steps: 1, intervalMs: 3_600_000, requestId: `req-${uniqueToken()}` });
    const args = ['request', `${prefix}.demo.start`, body];
    const first = await runCli(args, env);
    expect(first.code, showResult(args, first)).toBe(0);
    const reply = JSON.parse(first.stdout) as { id: string; state: string; version: number };
    expect(reply).toMatchObject({ state: 'waiting', version: 1 });
    // The same request id again: the first answer, nothing new stored.
    const again = await runCli(args, env);
    expect(JSON.parse(again.stdout)).toEqual(reply);
    const stored = (await readWholeStream(natsUrl, stream, prefix)).filter((e) => e.actorId === reply.id);
    expect(stored).toHaveLength(1);

    const bad = ['request', `${prefix}.demo.start`, '{"steps":"many"}'];
    const refused = await runCli(bad, env);
    expect(refused.code, showResult(bad, refused)).toBe(1);
    expect(refused.stderr).toMatch(/error 400/);
    expect(refused.stderr).toMatch(/VALIDATION_FAILED/);
    const notJson = ['request', `${prefix}.demo.start`, '{steps'];
    const malformed = await runCli(notJson, env);
    expect(malformed.code, showResult(notJson, malformed)).toBe(2);
    expect(malformed.stderr).toMatch(/not JSON/);
  }, 90_000); // up and four CLI runs, each process seconds to start on a loaded machine (30 s ran out in a CI run)
});
