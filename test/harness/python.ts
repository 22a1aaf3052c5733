/**
 * A Python 3 that can import the modules a check needs. Debian's python3-* packages install
 * into /usr/bin/python3's path, which a python3 earlier on the PATH (pyenv, a venv) does not see,
 * so that one is asked first.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const candidates = (): string[] => [...(existsSync('/usr/bin/python3') ? ['/usr/bin/python3'] : []), 'python3'];

/** The first Python that imports every one of `modules`; throws naming the Debian packages to install. */
export const pythonWith = (modules: readonly string[], debianPackages: readonly string[]): string => {
  for (const python of candidates()) {
    const probe = spawnSync(python, ['-c', modules.map((m) => `import ${m}`).join('; ')], { encoding: 'utf8' });
    if (probe.status === 0) return python;
  }
  throw new Error(`no python3 here imports ${modules.join(', ')}: apt-get install python3 ${debianPackages.join(' ')}`);
};

/** Runs `python script ...args`, resolves with its stdout parsed as JSON; rejects with its stderr when it fails. */
export const runPythonJson = <T>(python: string, script: string, args: readonly string[], timeoutMs: number): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const child = spawn(python, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`${python} ${script} ${args.join(' ')}: code ${code} signal ${signal}\n${err}${out}`));
        return;
      }
      try {
        resolve(JSON.parse(out) as T);
      } catch (e) {
        reject(new Error(`${script} printed no JSON (${e instanceof Error ? e.message : String(e)}):\n${out}\n${err}`));
      }
    });
  });
