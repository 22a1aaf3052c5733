/**
 * Starts the acquisition bench's sender children on the bench's behalf, from a process of its own.
 *
 * Why: a child started by the bench is a fork of the bench, and a fork write-protects every page
 * of the forking process: with the ring buffer full (half a gigabyte of images) each rung then
 * began with some 250,000 page faults in the receiving thread, a cost daqflow never pays in
 * production, where the sender is another machine. This launcher is started before the ring
 * buffer fills, while the bench is small; its own forks cost nothing to the bench.
 *
 *   node --import tsx bench/senderLauncher.ts
 *
 * One JSON object per line on stdin: `{"op":"start","id":N,"args":[…]}` starts
 * `node --import tsx bench/bsreadSenderChild.ts …args`; `{"op":"stop","id":N}` closes that child's
 * stdin (it then leaves); `{"op":"kill","id":N}` kills it. On stdout, one JSON object per line:
 * `{"id":N,"out":LINE}` for each line the child prints, `{"id":N,"err":TEXT}` for what it writes
 * to stderr, `{"id":N,"exit":CODE}` when it has ended. When stdin closes, every child is killed.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

const loader = (): string => {
  try {
    return import.meta.resolve('tsx');
  } catch {
    return 'tsx';
  }
};

const children = new Map<number, ChildProcessWithoutNullStreams>();
const say = (message: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(message)}\n`);
};

const start = (id: number, args: readonly string[]): void => {
  const child = spawn(process.execPath, ['--import', loader(), join(here, 'bsreadSenderChild.ts'), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.set(id, child);
  createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => say({ id, out: line }));
  child.stderr.setEncoding('utf8').on('data', (d: string) => say({ id, err: d }));
  child.stdin.on('error', () => undefined);
  child.on('error', (e) => say({ id, err: e.message }));
  child.on('exit', (code) => {
    children.delete(id);
    say({ id, exit: code });
  });
};

createInterface({ input: process.stdin, crlfDelay: Infinity }).on('line', (raw) => {
  const line = raw.trim();
  if (line === '') return;
  const command = JSON.parse(line) as { op: 'start' | 'stop' | 'kill'; id: number; args?: string[] };
  if (command.op === 'start') start(command.id, command.args ?? []);
  else if (command.op === 'stop') children.get(command.id)?.stdin.end();
  else children.get(command.id)?.kill('SIGKILL');
});
process.stdin.on('end', () => {
  for (const child of children.values()) child.kill('SIGKILL');
  process.exit(0);
});
