import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../events/errors.js';
import { loadConfig } from './config.js';

const dir = mkdtempSync(join(tmpdir(), 'daqflow-config-'));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('loadConfig', () => {
  it('has sane defaults with nothing configured: embedded servers under ./.daqflow', () => {
    const config = loadConfig({ env: {}, cwd: '/srv/x' });
    expect(config).toMatchObject({
      homeDir: '/srv/x/.daqflow',
      dataRootDir: '/srv/x/.daqflow/data',
      stream: 'DAQFLOW_EVENTS',
      subjectPrefix: 'daqflow',
      bsreadMode: 'pull',
      bsreadReceiver: 'zmtp',
      logLevel: 'info',
    });
    expect(config.natsUrl).toBeUndefined();
    expect(config.databaseUrl).toBeUndefined();
  });

  it('takes the environment, then the YAML file, then flags', () => {
    const env = { DAQFLOW_NATS_URL: 'nats://env:4222', DAQFLOW_STREAM: 'FROM_ENV', DAQFLOW_BUFFER_LENGTH: '64', DAQFLOW_LOG_LEVEL: 'debug' };
    const yaml = file('a.yaml', 'stream: FROM_FILE\nbufferLength: 128\n');
    const config = loadConfig({ env, file: yaml, flags: { logLevel: 'warn', natsUrl: undefined } });
    expect(config).toMatchObject({ natsUrl: 'nats://env:4222', stream: 'FROM_FILE', bufferLength: 128, logLevel: 'warn' });
  });

  it('takes the stream replicas from the environment or a flag, 1 to 5, and the start time-out', () => {
    expect(loadConfig({ env: {} })).toMatchObject({ streamReplicas: 1, startTimeoutMs: 60_000 });
    const config = loadConfig({ env: { DAQFLOW_STREAM_REPLICAS: '5', DAQFLOW_START_TIMEOUT_MS: '0' }, flags: { streamReplicas: '3' } });
    expect(config).toMatchObject({ streamReplicas: 3, startTimeoutMs: 0 });
    expect(config.explicit.has('streamReplicas')).toBe(true);
    expect(() => loadConfig({ env: { DAQFLOW_STREAM_REPLICAS: '7' } })).toThrow(/streamReplicas \(DAQFLOW_STREAM_REPLICAS\): at most 5, as JetStream allows/);
    expect(() => loadConfig({ env: { DAQFLOW_STREAM_REPLICAS: '0' } })).toThrow(/streamReplicas \(DAQFLOW_STREAM_REPLICAS\): at least 1/);
    expect(() => loadConfig({ env: { DAQFLOW_START_TIMEOUT_MS: '-1' } })).toThrow(/startTimeoutMs \(DAQFLOW_START_TIMEOUT_MS\)/);
  });

  it('names the key and its variable when a value is bad', () => {
    expect(() => loadConfig({ env: { DAQFLOW_BSREAD_MODE: 'push' } })).toThrow(/bsreadMode \(DAQFLOW_BSREAD_MODE\)/);
    expect(() => loadConfig({ env: { DAQFLOW_SUBJECT_PREFIX: 'a b' } })).toThrow(/subjectPrefix/);
    expect(() => loadConfig({ env: {}, file: file('b.yaml', 'strem: X\n') })).toThrow(/strem/);
  });

  it('checks the bsread stream address against the receiver that will read it, at load time', () => {
    expect(loadConfig({ env: { DAQFLOW_BSREAD_STREAM: 'tcp://camera:9999' } }).bsreadReceiver).toBe('zmtp');
    expect(() => loadConfig({ env: { DAQFLOW_BSREAD_STREAM: 'inproc://cam' } })).toThrow(/bsreadStream \(DAQFLOW_BSREAD_STREAM\): .*DAQFLOW_BSREAD_RECEIVER=zeromq/);
    expect(() => loadConfig({ env: { DAQFLOW_BSREAD_STREAM: 'tcp://*:9999' } })).toThrow(/bsreadStream .*a host and a port/);
    expect(loadConfig({ env: { DAQFLOW_BSREAD_STREAM: 'inproc://cam', DAQFLOW_BSREAD_RECEIVER: 'zeromq' } }).bsreadReceiver).toBe('zeromq');
    expect(() => loadConfig({ env: { DAQFLOW_BSREAD_STREAM: 'ipc://@cam' } })).toThrow(/bsreadStream .*abstract socket.*DAQFLOW_BSREAD_RECEIVER=zeromq/);
    expect(loadConfig({ env: { DAQFLOW_BSREAD_STREAM: 'ipc://@cam', DAQFLOW_BSREAD_RECEIVER: 'zeromq' } }).bsreadStream).toBe('ipc://@cam');
    expect(() => loadConfig({ env: { DAQFLOW_BSREAD_RECEIVER: 'libzmq' } })).toThrow(/bsreadReceiver \(DAQFLOW_BSREAD_RECEIVER\)/);
  });

  it('starts no REST shim unless a port is given, and keeps it on loopback by default', () => {
    const none = loadConfig({ env: {} });
    expect(none.restPort).toBeUndefined();
    expect(none.restHost).toBe('127.0.0.1');
    expect(loadConfig({ env: { DAQFLOW_REST_PORT: '8888', DAQFLOW_REST_HOST: '0.0.0.0' } })).toMatchObject({ restPort: 8888, restHost: '0.0.0.0' });
    expect(loadConfig({ env: {}, file: file('rest.yaml', 'restPort: 4000\n') }).restPort).toBe(4000);
    expect(() => loadConfig({ env: { DAQFLOW_REST_PORT: 'http' } })).toThrow(/restPort \(DAQFLOW_REST_PORT\)/);
    expect(() => loadConfig({ env: { DAQFLOW_REST_PORT: '70000' } })).toThrow(/restPort/);
  });

  it('serves HTTP on loopback port 8080 by default; DAQFLOW_HTTP takes host:port, :port, [v6]:port or none', () => {
    expect(loadConfig({ env: {} }).http).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(loadConfig({ env: { DAQFLOW_HTTP: 'none' } }).http).toBe('none');
    expect(loadConfig({ env: { DAQFLOW_HTTP: '0.0.0.0:9000' } }).http).toEqual({ host: '0.0.0.0', port: 9000 });
    expect(loadConfig({ env: { DAQFLOW_HTTP: ':0' } }).http).toEqual({ host: '0.0.0.0', port: 0 });
    expect(loadConfig({ env: { DAQFLOW_HTTP: '[::1]:8081' } }).http).toEqual({ host: '::1', port: 8081 });
    for (const bad of ['8080', 'localhost', 'host:99999', 'a b:80']) {
      expect(() => loadConfig({ env: { DAQFLOW_HTTP: bad } }), bad).toThrow(/http \(DAQFLOW_HTTP\): .* is not host:port/);
    }
  });

  it('refuses files that cannot be read or are not a mapping', () => {
    expect(() => loadConfig({ env: {}, file: join(dir, 'missing.yaml') })).toThrow(ValidationError);
    expect(() => loadConfig({ env: {}, file: file('c.yaml', '- a\n- b\n') })).toThrow(/mapping/);
    expect(() => loadConfig({ env: {}, file: file('d.yaml', 'a: [\n') })).toThrow(/not valid YAML/);
    expect(loadConfig({ env: {}, file: file('e.yaml', '') }).stream).toBe('DAQFLOW_EVENTS');
  });
});
