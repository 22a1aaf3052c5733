import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeAccount, encodeOperator, encodeUser, fmtCreds } from '@nats-io/jwt';
import { createAccount, createOperator, createUser } from '@nats-io/nkeys';
import { findNatsServerBinary, waitForPort } from '../../adapters/embedded/natsServer.js';
import { freePort } from '../../adapters/embedded/freePort.js';

export interface ConfiguredNatsServer {
  readonly url: string;
  /** What the server logged so far (permission violations appear here). */
  log(): string;
  stop(): Promise<void>;
}

const listening = async (port: number, child: ChildProcess, logFile: string): Promise<void> => {
  try {
    await waitForPort(port, child, 15_000);
  } catch (e) {
    throw new Error(`${(e as Error).message}:\n${readFileSync(logFile, 'utf8')}`, { cause: e });
  }
};

/** Starts nats-server -js on 127.0.0.1 with the configuration `config` (written to `dir`) and `env`. */
export const startConfiguredNatsServer = async (
  dir: string,
  name: string,
  config: string,
  env: Record<string, string> = {},
): Promise<ConfiguredNatsServer> => {
  const port = await freePort();
  const configFile = join(dir, `${name}-server.conf`);
  const logFile = join(dir, `${name}.log`);
  writeFileSync(configFile, config);
  const out = openSync(logFile, 'a');
  const child = spawn(findNatsServerBinary(), ['-c', configFile, '-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir, `${name}-store`)], {
    stdio: ['ignore', out, out],
    env: { ...process.env, ...env },
  });
  closeSync(out);
  const kill = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', kill);
  try {
    await listening(port, child, logFile);
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    log: () => readFileSync(logFile, 'utf8'),
    stop: async () => {
      process.removeListener('exit', kill);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
};

/** Decentralised (operator-mode) auth: a configuration with a memory resolver, and .creds files of a user of the daqflow account. */
export interface OperatorMode {
  readonly config: string;
  /** Valid for a day. */
  readonly creds: string;
  /** Expired an hour ago. */
  readonly expiredCreds: string;
}

export const makeOperatorMode = async (dir: string): Promise<OperatorMode> => {
  const operator = createOperator();
  const system = createAccount();
  const account = createAccount();
  const operatorJwt = await encodeOperator('test-operator', operator, { system_account: system.getPublicKey() });
  const systemJwt = await encodeAccount('SYS', system, {}, { signer: operator });
  const accountJwt = await encodeAccount(
    'DAQFLOW',
    account,
    { limits: { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1, subs: -1, conn: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, leaf: -1 } },
    { signer: operator },
  );
  const user = createUser();
  const now = Math.floor(Date.now() / 1_000);
  const userJwt = await encodeUser('daqflow-jwt', user, account, {}, { exp: now + 86_400 });
  const expiredJwt = await encodeUser('daqflow-expired', user, account, {}, { exp: now - 3_600 });
  const creds = join(dir, 'daqflow.creds');
  const expiredCreds = join(dir, 'expired.creds');
  writeFileSync(creds, fmtCreds(userJwt, user));
  writeFileSync(expiredCreds, fmtCreds(expiredJwt, user));
  const config = `
operator: ${operatorJwt}
system_account: ${system.getPublicKey()}
resolver: MEMORY
resolver_preload: {
  ${system.getPublicKey()}: ${systemJwt}
  ${account.getPublicKey()}: ${accountJwt}
}
`;
  return { config, creds, expiredCreds };
};
