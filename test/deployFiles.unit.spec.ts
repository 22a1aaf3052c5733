import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configKeys, loadConfig } from '../adapters/config/config.js';
import { repoRoot } from './harness/daqflowProcess.js';

/*
 * The deployment files cannot be run here (no network to pull images, no systemd as PID 1), so
 * this reads them: the compose file parses and wires the three services, the unit has what a
 * service needs, and every DAQFLOW_* name they set is one daqflow reads, with values its
 * configuration accepts. daqflow ignores an environment variable it does not know, so a
 * misspelt name would otherwise pass unnoticed.
 */

const deploy = (file: string): string => readFileSync(join(repoRoot, 'deploy', file), 'utf8');
const known = new Set<string>(Object.values(configKeys));
const daqflowNames = (text: string): string[] => [...new Set(text.match(/\bDAQFLOW_[A-Z0-9_]+/g) ?? [])];

/** KEY=value lines of an environment file, comments and blank lines skipped. */
const envFile = (text: string): Record<string, string> =>
  Object.fromEntries(
    text
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );

/** `[Section]` → key → values (a key may repeat) of a systemd unit file. */
const unitFile = (text: string): Map<string, Map<string, string[]>> => {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1] as string, current);
      continue;
    }
    const at = line.indexOf('=');
    if (!current || at < 1) throw new Error(`not a unit file line: ${line}`);
    const key = line.slice(0, at);
    current.set(key, [...(current.get(key) ?? []), line.slice(at + 1)]);
  }
  return sections;
};

describe('deploy/', () => {
  it('daqflow.service runs `daqflow up --no-install` as its own user, restarts it, and reads an environment file', () => {
    const unit = unitFile(deploy('daqflow.service'));
    const service = unit.get('Service');
    expect(service).toBeDefined();
    const one = (key: string): string | undefined => service?.get(key)?.[0];
    expect(one('ExecStart')).toMatch(/\bnode \S*bin\/daqflow\.js up --no-install$/);
    expect(one('User')).toBe('daqflow');
    expect(one('Restart')).toBe('on-failure');
    expect(one('EnvironmentFile')).toBe('/etc/daqflow/daqflow.env');
    // SIGTERM to daqflow alone, so that it stops what it started in order.
    expect(one('KillMode')).toBe('mixed');
    expect(unit.get('Install')?.get('WantedBy')).toEqual(['multi-user.target']);
    // The user the sysusers file creates is the unit's.
    expect(deploy('daqflow.sysusers.conf')).toMatch(/^u daqflow /m);
  });

  it('daqflow.env sets only settings daqflow reads, with values it accepts', () => {
    const text = deploy('daqflow.env');
    expect(daqflowNames(text).filter((name) => !known.has(name))).toEqual([]);
    const config = loadConfig({ env: envFile(text) });
    expect(config.install).toBe(false);
    expect(config.http).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(config.natsUrl).toBe('nats://127.0.0.1:4222');
  });

  it('compose.yaml parses, starts daqflow after healthy NATS and PostgreSQL, and gives daqflow settings it reads', () => {
    const compose = parse(deploy('compose.yaml')) as {
      services: Record<string, { environment?: Record<string, string>; depends_on?: Record<string, { condition: string }>; build?: { dockerfile: string }; ports?: string[] }>;
    };
    expect(Object.keys(compose.services).sort()).toEqual(['daqflow', 'nats', 'postgres']);
    const daqflow = compose.services.daqflow!;
    expect(daqflow.depends_on).toEqual({ nats: { condition: 'service_healthy' }, postgres: { condition: 'service_healthy' } });
    const env = daqflow.environment ?? {};
    expect(Object.keys(env).filter((name) => !known.has(name))).toEqual([]);
    // Commented-out names too: an operator uncomments them as they are.
    expect(daqflowNames(deploy('compose.yaml')).filter((name) => !known.has(name))).toEqual([]);
    const config = loadConfig({ env });
    expect(config.natsUrl).toBe('nats://nats:4222');
    expect(new URL(config.databaseUrl ?? '').host).toBe('postgres:5432');
    expect(config.http).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(daqflow.ports).toEqual(['127.0.0.1:8080:8080']);
    // The compose file's database user and password are those daqflow connects with.
    const postgres = compose.services.postgres!.environment ?? {};
    const url = new URL(config.databaseUrl ?? '');
    expect([url.username, url.password, url.pathname]).toEqual([postgres.POSTGRES_USER, postgres.POSTGRES_PASSWORD, `/${postgres.POSTGRES_DB}`]);
    expect(daqflow.build?.dockerfile).toBe('deploy/Dockerfile');
  });

  it('the Dockerfile builds with npm run build and runs the build with plain node', () => {
    const dockerfile = deploy('Dockerfile');
    expect(dockerfile).toMatch(/^RUN npm run build$/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "\/opt\/daqflow\/dist\/bin\/daqflow\.js"\]$/m);
    expect(dockerfile).not.toMatch(/tsx/);
    expect(daqflowNames(dockerfile).filter((name) => !known.has(name))).toEqual([]);
    // The build script writes the entry the image runs.
    expect(readFileSync(join(repoRoot, 'scripts', 'build.mjs'), 'utf8')).toContain("join(outDir, 'bin/daqflow.js')");
  });
});
