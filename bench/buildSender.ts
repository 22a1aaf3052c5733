/**
 * Builds bench/bsreadLibzmqSender.c into `.daqflow/build/bsread-libzmq-sender` when the binary is
 * missing or older than its source, and says what to install when the compiler or libzmq's
 * header is missing (bench/README.md, "The libzmq sender").
 *
 *   npx tsx bench/buildSender.ts          # prints the binary's path
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const senderSource = join(here, 'bsreadLibzmqSender.c');
const buildDir = resolve(here, '..', '.daqflow', 'build');
export const senderBinary = join(buildDir, 'bsread-libzmq-sender');

const INSTALL_HINT = 'apt-get install gcc libzmq3-dev';

export class SenderBuildError extends Error {
  override readonly name = 'SenderBuildError';
}

const upToDate = (): boolean => existsSync(senderBinary) && statSync(senderBinary).mtimeMs >= statSync(senderSource).mtimeMs;

/**
 * The sender binary's path, compiled first when needed. Safe to call from several processes at
 * once: each compiles to a file of its own and renames it into place.
 */
export const buildBsreadSender = (): string => {
  if (upToDate()) return senderBinary;
  const probe = spawnSync('gcc', ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined) throw new SenderBuildError(`gcc is not installed (${probe.error.message}): ${INSTALL_HINT}`);
  mkdirSync(buildDir, { recursive: true });
  const partial = `${senderBinary}.${process.pid}.${Date.now()}`;
  const gcc = spawnSync('gcc', ['-O2', '-std=c11', '-Wall', '-Wextra', '-o', partial, senderSource, '-lzmq', '-lm'], { encoding: 'utf8' });
  if (gcc.status !== 0) {
    rmSync(partial, { force: true });
    const output = `${gcc.stderr}${gcc.stdout}`.trim();
    if (/zmq\.h: No such file|cannot find -lzmq/.test(output)) {
      throw new SenderBuildError(`libzmq's development files are missing (zmq.h or libzmq.so): ${INSTALL_HINT}\n${output}`);
    }
    throw new SenderBuildError(`gcc failed to build ${senderSource} (code ${gcc.status}):\n${output}`);
  }
  renameSync(partial, senderBinary);
  return senderBinary;
};

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.stdout.write(`${buildBsreadSender()}\n`);
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}
