import { jetstreamManager, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventStreamConfig } from '../../adapters/jetstream/eventStream.js';
import { killAllDaqflowProcesses, runCli, showResult, startDaqflowProcess } from '../harness/daqflowProcess.js';
import { useE2eEnvironments, type DaqflowEnvironment } from './e2eHelpers.js';

/*
 * The event stream is the operator's: `daqflow up` creates a missing one and never changes one
 * that exists. The operator's limits and replicas are left as set (and listed by `daqflow stream
 * check`); a stream whose subjects daqflow cannot use is refused by `up`, naming them and the
 * command that changes it; `daqflow stream apply` changes it, keeping the operator's settings.
 * Every command runs as `daqflow` does for a user: the CLI as a child process.
 */

const e2e = useE2eEnvironments('stream-ownership');
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  nc = await connect({ servers: (await e2e.create()).env.DAQFLOW_NATS_URL });
  jsm = await jetstreamManager(nc);
});

afterEach(async () => {
  await killAllDaqflowProcesses();
});

afterAll(async () => {
  await nc?.close();
});

const DAY_NS = nanos(24 * 3_600_000);

/** The stream daqflow would make for `environment`, as the operator made it, with `changes`. */
const operatorStream = async (environment: DaqflowEnvironment, changes: Partial<StreamConfig>): Promise<void> => {
  await jsm.streams.add({ ...eventStreamConfig({ stream: environment.stream, subjectPrefix: `${environment.prefix}.events` }), ...changes });
};

const cli = async (args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string; shown: string }> => {
  const result = await runCli(args, env);
  return { ...result, shown: showResult(args, result) };
};

describe('daqflow stream check and apply, and daqflow up, on a stream the operator made', () => {
  it("keep an operator's limits: up starts on the stream as it is and logs them once, check lists them and exits 0", async () => {
    const environment = await e2e.create();
    await operatorStream(environment, { max_age: 400 * DAY_NS, max_bytes: 2 ** 30 });

    const check = await cli(['stream', 'check'], environment.env);
    expect(check.code, check.shown).toBe(0);
    expect(check.stdout, check.shown).toMatch(new RegExp(`^stream ${environment.stream}: 0 messages, 1 replica\\(s\\)$`, 'm'));
    expect(check.stdout, check.shown).toMatch(/^ {2}operator {2}max_age +34560000000000000 → 0$/m);
    expect(check.stdout, check.shown).toMatch(/^ {2}operator {2}max_bytes +1073741824 → -1$/m);
    expect(check.stdout, check.shown).toMatch(/^daqflow uses this stream as it is; the operator's settings stay$/m);

    const up = await startDaqflowProcess({ env: { ...environment.env, DAQFLOW_LOG_LEVEL: 'info' } });
    const demo = await cli(['demo', '--steps', '1', '--interval-ms', '10'], environment.env);
    expect(demo.code, demo.shown).toBe(0);
    up.kill('SIGTERM');
    expect((await up.exited).code, up.stderr()).toBe(0);
    const logged = up.stderr().split('\n').filter((line) => /keeps the operator's settings/.test(line));
    expect(logged, up.stderr()).toHaveLength(1);
    expect(logged[0]).toMatch(/"field":"max_age","have":34560000000000000,"daqflow":0/);

    const after = await jsm.streams.info(environment.stream);
    expect({ max_age: after.config.max_age, max_bytes: after.config.max_bytes }).toEqual({ max_age: 400 * DAY_NS, max_bytes: 2 ** 30 });
    expect(after.state.messages).toBeGreaterThan(0);
  }, 120_000);

  it('refuse wrong subjects: up stops naming them and the command, check exits 1, apply changes only what daqflow needs', async () => {
    const environment = await e2e.create();
    const wrong = [`${environment.prefix}.events.demo.>`];
    await operatorStream(environment, { subjects: wrong, max_age: 400 * DAY_NS, allow_direct: false });

    const refused = await cli(['up'], environment.env);
    expect(refused.code, refused.shown).not.toBe(0);
    expect(refused.stderr.trim(), refused.shown).toBe(
      `daqflow: stream ${environment.stream} differs from what daqflow needs: subjects is ${JSON.stringify(wrong)}, daqflow needs ["${environment.prefix}.events.>"]; ` +
        'allow_direct is false, daqflow needs true. Nothing was changed; `daqflow stream check` shows it, `daqflow stream apply` changes it',
    );
    expect((await jsm.streams.info(environment.stream)).config.subjects).toEqual(wrong);

    const check = await cli(['stream', 'check'], environment.env);
    expect(check.code, check.shown).toBe(1);
    expect(check.stdout, check.shown).toMatch(new RegExp(`^ {2}needed {4}subjects +${escape(JSON.stringify(wrong))} → \\["${environment.prefix}\\.events\\.>"\\]$`, 'm'));
    expect(check.stdout, check.shown).toMatch(/^ {2}needed {4}allow_direct +false → true$/m);
    expect(check.stdout, check.shown).toMatch(/^ {2}operator {2}max_age /m);
    expect(check.stdout, check.shown).toMatch(/^daqflow refuses this stream; `daqflow stream apply` changes the needed settings/m);

    const apply = await cli(['stream', 'apply'], environment.env);
    expect(apply.code, apply.shown).toBe(0);
    expect(apply.stdout, apply.shown).toMatch(new RegExp(`^stream ${environment.stream} changed:$`, 'm'));
    expect(apply.stdout, apply.shown).toMatch(/^ {2}needed {4}subjects /m);
    expect(apply.stdout, apply.shown).not.toMatch(/max_age/);
    const changed = (await jsm.streams.info(environment.stream)).config;
    expect({ subjects: changed.subjects, allow_direct: changed.allow_direct, max_age: changed.max_age }).toEqual({
      subjects: [`${environment.prefix}.events.>`],
      allow_direct: true,
      max_age: 400 * DAY_NS,
    });

    const again = await cli(['stream', 'apply'], environment.env);
    expect(again.stdout, again.shown).toBe(`stream ${environment.stream}: nothing to change\n`);
    const up = await startDaqflowProcess({ env: environment.env });
    up.kill('SIGTERM');
    expect((await up.exited).code, up.stderr()).toBe(0);
  }, 120_000);

  it('a missing stream: check says so, apply creates it as daqflow would', async () => {
    const environment = await e2e.create();
    const check = await cli(['stream', 'check'], environment.env);
    expect(check.code, check.shown).toBe(0);
    expect(check.stdout, check.shown).toBe(`stream ${environment.stream} does not exist: \`daqflow up\` or \`daqflow stream apply\` creates it\n`);
    const apply = await cli(['stream', 'apply'], environment.env);
    expect(apply.stdout, apply.shown).toBe(`stream ${environment.stream} created (1 replica(s), subjects ${environment.prefix}.events.>)\n`);
    const created = await cli(['stream', 'check'], environment.env);
    expect(created.stdout, created.shown).toMatch(/^as daqflow would create it$/m);
  }, 60_000);

  it('--help of each teaches what it does and what it leaves', async () => {
    // Each its own process, all at once: start-up is most of what they cost.
    const [stream, check, apply] = await Promise.all([
      cli(['stream', '--help'], {}),
      cli(['stream', 'check', '--help'], {}),
      cli(['stream', 'apply', '--help'], {}),
    ]);
    expect(stream.stdout, stream.shown).toMatch(/^ {2}check .*differs/m);
    expect(stream.stdout, stream.shown).toMatch(/^ {2}apply .*create the stream/m);
    expect(check.code, check.shown).toBe(0);
    expect(check.stdout, check.shown).toMatch(/needed: daqflow depends on it \(subjects, retention, allow_direct/);
    expect(check.stdout, check.shown).toMatch(/operator: replicas,\s+placement, storage, discard and limits/);
    expect(check.stdout, check.shown).toMatch(/--nats-url/);
    expect(apply.code, apply.shown).toBe(0);
    expect(apply.stdout, apply.shown).toMatch(/Replicas change only when DAQFLOW_STREAM_REPLICAS/);
  }, 60_000);
});

/** `text` as a literal inside a RegExp. */
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
