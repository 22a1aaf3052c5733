import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNkeyUser } from '../harness/nkeyUser.js';
import { repoRoot, runCli, showResult, startDaqflowProcess } from '../harness/daqflowProcess.js';
import { makeOperatorMode, startConfiguredNatsServer, type ConfiguredNatsServer, type OperatorMode } from '../harness/securedNats.js';
import { makeCertificates, type TestCertificates } from '../harness/testCertificates.js';
import { useE2eEnvironments, type DaqflowEnvironment } from './e2eHelpers.js';

/*
 * daqflow against nats-servers as facilities run them: accounts and users with the permissions
 * of examples/nats-server/accounts.conf and TLS; decentralised JWT auth (.creds); a token with
 * client certificates required. Each way of logging in runs `daqflow up` and `daqflow demo`
 * (a demo job, an acquisition, a grab run and a report); each wrong setting fails at start with
 * one line naming it; the viewer's and operator's limits hold.
 *
 * The tests run at once, each on a server of its own (the accounts configuration serves two: its
 * permissions name one stream, which one daqflow uses at a time); each has its own database and
 * home and stops the daqflow it started, so none may kill the others' processes.
 */

const PASSWORDS = { service: 'service-secret-1', operator: 'operator-secret-2', viewer: 'viewer-secret-3' };
const TOKEN = 'token-for-the-mtls-server';

const e2e = useE2eEnvironments('secured');
let dir: string;
let certs: TestCertificates;
let jwt: OperatorMode;
let nkeySeedFile: string;
let accounts: ConfiguredNatsServer;
/** A second server of the accounts configuration: the nkey user runs beside the permissions test. */
let accountsForNkey: ConfiguredNatsServer;
let operatorMode: ConfiguredNatsServer;
let mutualTls: ConfiguredNatsServer;

beforeAll(async () => {
  dir = join(e2e.home, 'secured');
  mkdirSync(dir, { recursive: true });
  certs = makeCertificates(dir);
  jwt = await makeOperatorMode(dir);
  const nkey = createNkeyUser(dir);
  nkeySeedFile = nkey.seedFile;
  // The example as shipped, beside a configuration that adds the test's TLS files.
  copyFileSync(join(repoRoot, 'examples', 'nats-server', 'accounts.conf'), join(dir, 'accounts.conf'));
  const tls = (verify: boolean): string =>
    `tls { cert_file: "${certs.serverCert}", key_file: "${certs.serverKey}", ca_file: "${certs.ca}", verify: ${verify}, timeout: 2 }\n`;
  const accountsSecrets = {
    DAQFLOW_SERVICE_PASSWORD: PASSWORDS.service,
    DAQFLOW_OPERATOR_PASSWORD: PASSWORDS.operator,
    DAQFLOW_VIEWER_PASSWORD: PASSWORDS.viewer,
    DAQFLOW_SERVICE_NKEY: nkey.publicKey,
  };
  [accounts, accountsForNkey, operatorMode, mutualTls] = await Promise.all([
    startConfiguredNatsServer(dir, 'accounts', `include accounts.conf\n${tls(false)}`, accountsSecrets),
    startConfiguredNatsServer(dir, 'accounts-nkey', `include accounts.conf\n${tls(false)}`, accountsSecrets),
    startConfiguredNatsServer(dir, 'operator-mode', jwt.config),
    startConfiguredNatsServer(dir, 'mutual-tls', `authorization { token: "${TOKEN}" }\n${tls(true)}`),
  ]);
});

afterAll(async () => {
  await Promise.all([accounts?.stop(), accountsForNkey?.stop(), operatorMode?.stop(), mutualTls?.stop()]);
});

/** The environment of a daqflow on `server`: the example's stream and prefix, a database and home of the test's own. */
const on = (environment: DaqflowEnvironment, server: ConfiguredNatsServer, login: Record<string, string>): Record<string, string> => ({
  ...environment.env,
  DAQFLOW_HOME: join(e2e.home, environment.token),
  DAQFLOW_NATS_URL: server.url,
  DAQFLOW_STREAM: 'DAQFLOW_EVENTS',
  DAQFLOW_SUBJECT_PREFIX: 'daqflow',
  DAQFLOW_DATA_ROOT: join(e2e.home, 'data'),
  ...login,
});

/** Runs `work` beside `daqflow up` with `env`, which it stops (and expects to stop cleanly) after, or kills when `work` failed. */
const withUp = async (env: Record<string, string>, work: () => Promise<void>): Promise<void> => {
  const up = await startDaqflowProcess({ env });
  try {
    await work();
  } catch (e) {
    up.kill('SIGKILL');
    throw e;
  }
  up.kill('SIGTERM');
  expect((await up.exited).code, up.stderr()).toBe(0);
};

const serviceUser = (): Record<string, string> => ({ DAQFLOW_NATS_USER: 'daqflow', DAQFLOW_NATS_PASSWORD: PASSWORDS.service, DAQFLOW_NATS_TLSCA: certs.ca });
const operator = (): Record<string, string> => ({ DAQFLOW_NATS_USER: 'operator', DAQFLOW_NATS_PASSWORD: PASSWORDS.operator, DAQFLOW_NATS_TLSCA: certs.ca });
const viewer = (): Record<string, string> => ({ DAQFLOW_NATS_USER: 'viewer', DAQFLOW_NATS_PASSWORD: PASSWORDS.viewer, DAQFLOW_NATS_TLSCA: certs.ca });

const expectDemoCompleted = async (env: Record<string, string>): Promise<void> => {
  const args = ['demo', '--steps', '2', '--interval-ms', '50'];
  // Every kind of job, a report rendered on the local runner among them, beside four more servers
  // and processes of this file's tests: 90 s ran out in a CI run where each test took ~2 min.
  const result = await runCli(args, env, 180_000);
  const shown = showResult(args, result);
  expect(result.code, shown).toBe(0);
  expect(result.stdout, shown).toMatch(/demo job \S+ ended completed/);
  expect(result.stdout, shown).toMatch(/acquisition \S+ completed/);
  expect(result.stdout, shown).toMatch(/grab \S+ completed/);
  expect(result.stdout, shown).toMatch(/report \S+ completed/);
};

const permissionViolations = (server: ConfiguredNatsServer): string[] =>
  server.log().split('\n').filter((line) => /Permissions Violation/i.test(line));

describe.concurrent('each way of logging in runs every kind of job', () => {
  // User and password over TLS: the service user of the permissions test below.
  const ways = [
    {
      name: 'nkey seed file over TLS',
      server: () => accountsForNkey,
      login: () => ({ DAQFLOW_NATS_NKEY: nkeySeedFile, DAQFLOW_NATS_TLSCA: certs.ca }),
    },
    {
      name: 'JWT .creds file (operator mode)',
      server: () => operatorMode,
      login: () => ({ DAQFLOW_NATS_CREDS: jwt.creds }),
    },
    {
      name: 'token with a client certificate the server verifies, the projector on its own thread and connection',
      server: () => mutualTls,
      login: () => ({
        DAQFLOW_NATS_TOKEN: TOKEN,
        DAQFLOW_NATS_TLSCA: certs.ca,
        DAQFLOW_NATS_TLSCERT: certs.clientCert,
        DAQFLOW_NATS_TLSKEY: certs.clientKey,
        DAQFLOW_PROJECTOR: 'thread',
      }),
    },
  ];
  // A loop rather than it.each: its $name would cut the titles short.
  for (const { name, server, login } of ways) {
    it(name, async () => {
      const env = on(await e2e.create(), server(), login());
      await withUp(env, async () => {
        await expectDemoCompleted(env);
        // Read from the projections: the projector, on whichever thread, logged in too.
        const status = await runCli(['status', '--kind', 'report'], env);
        expect(status.stdout, showResult(['status'], status)).toMatch(/completed/);
      });
      expect(permissionViolations(server())).toEqual([]);
    }, 300_000);
  }
});

describe.concurrent('a wrong setting fails at start with one line naming it', () => {
  const cases = [
    {
      name: 'a wrong password',
      env: (e: DaqflowEnvironment) => on(e, accounts, { ...serviceUser(), DAQFLOW_NATS_PASSWORD: 'not-the-password' }),
      message: /refused the login of daqflow \(DAQFLOW_NATS_USER\/DAQFLOW_NATS_PASSWORD\)/,
    },
    {
      name: 'an unreadable credentials file',
      env: (e: DaqflowEnvironment) => on(e, operatorMode, { DAQFLOW_NATS_CREDS: dir }),
      message: /cannot read .*secured \(DAQFLOW_NATS_CREDS\): EISDIR/,
    },
    {
      name: 'an expired credentials file',
      env: (e: DaqflowEnvironment) => on(e, operatorMode, { DAQFLOW_NATS_CREDS: jwt.expiredCreds }),
      message: /the credentials in .*expired\.creds \(DAQFLOW_NATS_CREDS\) expired at/,
    },
    {
      name: 'a server certificate the client does not trust',
      env: (e: DaqflowEnvironment) => on(e, accounts, { DAQFLOW_NATS_USER: 'daqflow', DAQFLOW_NATS_PASSWORD: PASSWORDS.service }),
      message: /the certificate of NATS at nats:\/\/127\.0\.0\.1:\d+ is not trusted \(DAQFLOW_NATS_TLSCA is not set\)/,
    },
    {
      name: 'a client certificate the server refuses',
      env: (e: DaqflowEnvironment) => on(e, mutualTls, { DAQFLOW_NATS_TOKEN: TOKEN, DAQFLOW_NATS_TLSCA: certs.ca, DAQFLOW_NATS_TLSCERT: certs.rogueCert, DAQFLOW_NATS_TLSKEY: certs.rogueKey }),
      message: /did not complete the connection .*client certificate \(DAQFLOW_NATS_TLSCERT = .*rogue\.pem\)/,
    },
  ];
  // One `daqflow up` per case, all at once: each is refused at its first connection.
  it('a wrong password, an unreadable and an expired credentials file, an untrusted server, a refused client certificate', async () => {
    const results = await Promise.all(
      cases.map(async (c) => {
        const environment = await e2e.create();
        const started = Date.now();
        const result = await runCli(['up'], c.env(environment), 45_000);
        return { ...c, result, ms: Date.now() - started };
      }),
    );
    // Every case's outcome in one failure message, not only the first that is wrong.
    const wrong = results
      .filter(({ message, result }) => result.code === 0 || result.code === null || !message.test(result.stderr) || /^\s+at /m.test(result.stderr))
      .map(({ name, result, ms }) => `${name} (${ms} ms)\n${showResult(['up'], result)}`);
    expect(wrong.join('\n\n')).toBe('');
  }, 60_000);
});

describe.concurrent('the example permissions', () => {
  it("refuse the viewer's commands with a structured error and let the operator work, the service user logged in with a password; nothing else is reachable", async () => {
    const environment = await e2e.create();
    const up = await startDaqflowProcess({ env: on(environment, accounts, serviceUser()) });
    const request = (login: Record<string, string>, subject: string, body: unknown) =>
      // A time-out would take the whole minute; the refusal comes back at once.
      runCli(['request', subject, JSON.stringify(body), '--timeout-ms', '60000'], on(environment, accounts, login), 90_000);

    // The viewer's commands and the operator's work, side by side: each CLI command is a process of its own.
    const viewerChecks = async (): Promise<void> => {
      for (const [subject, body] of [
        ['daqflow.acquisitions.kill', { id: 'any' }],
        ['daqflow.grabs.start', { parameters: ['SIM:SINE'] }],
        ['daqflow.events.demo.forged', {}],
      ] as const) {
        const started = Date.now();
        const refused = await request(viewer(), subject, body);
        expect(refused.code, showResult(['request', subject], refused)).not.toBe(0);
        expect(refused.stderr.trim()).toBe(`daqflow: permission denied for ${subject}: the user viewer may not publish there`);
        expect(Date.now() - started).toBeLessThan(30_000);
      }
      const viewerReads = await request(viewer(), 'daqflow.query.list', { limit: 5 });
      expect(viewerReads.code, showResult(['request', 'daqflow.query.list'], viewerReads)).toBe(0);
      const viewerStream = await runCli(['history', 'none-such'], on(environment, accounts, viewer()));
      expect(viewerStream.stderr).toMatch(/^daqflow: permission denied for \$JS\.API\.\S+: the user of this connection may not publish there$/m);
    };
    const operatorWork = async (): Promise<void> => {
      // The operator runs every kind of job through the API and schedules one.
      await expectDemoCompleted(on(environment, accounts, operator()));
      const schedule = await runCli(
        ['schedule', 'add', 'nightly-demo', '--cron', '0 1 * * *', '--target', 'demo.start', '--payload', '{"steps":1}'],
        on(environment, accounts, operator()),
      );
      expect(schedule.code, showResult(['schedule', 'add'], schedule)).toBe(0);
      for (const subject of ['daqflow.events.demo.forged', '$JS.API.STREAM.DELETE.DAQFLOW_EVENTS', '$JS.API.STREAM.PURGE.DAQFLOW_EVENTS']) {
        const refused = await request(operator(), subject, {});
        expect(refused.stderr.trim(), showResult(['request', subject], refused)).toBe(`daqflow: permission denied for ${subject}: the user operator may not publish there`);
      }
      const history = await runCli(['history', 'none-such'], on(environment, accounts, operator()));
      expect(history.stderr, showResult(['history'], history)).toMatch(/no actor with id none-such/);
    };
    await Promise.all([viewerChecks(), operatorWork()]);

    up.kill('SIGTERM');
    expect((await up.exited).code, up.stderr()).toBe(0);
    // The service user needed nothing it was not given; the refusals above were the clients'.
    expect(permissionViolations(accounts).filter((line) => !/operator|viewer/.test(line))).toEqual([]);
  }, 300_000); // five concurrent tests of this file on a loaded machine: 150 s ran out in a CI run
});
