#!/usr/bin/env node
// `npm run build`: compiles the sources to JavaScript under dist/ (or --out-dir <dir>, which
// must lie inside the repository so that node_modules resolves), laid out as the repository is,
// so that paths a module finds from its own place (migrations/, package.json, bin/daqflow.js,
// the pages' assets, the worker entries) hold in the build as in the sources. The stamp is
// written last: bin/daqflow.js runs the build only when it is there and newer than every source.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const flag = process.argv.indexOf('--out-dir');
const outDir = resolve(root, flag >= 0 ? process.argv[flag + 1] ?? 'dist' : 'dist');
if (relative(root, outDir).startsWith('..')) {
  process.stderr.write(`build: --out-dir ${outDir} is outside ${root}; node_modules would not resolve from there\n`);
  process.exit(2);
}
const started = new Date();
rmSync(outDir, { recursive: true, force: true });
const tsc = spawnSync(
  process.execPath,
  [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', outDir],
  { stdio: 'inherit' },
);
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

// Files tsc does not emit: the pages' browser scripts and styles, the worker threads' entries.
cpSync(join(root, 'adapters/http/assets'), join(outDir, 'adapters/http/assets'), { recursive: true });
for (const entry of readdirSync(join(root, 'adapters'), { recursive: true })) {
  if (String(entry).endsWith('.entry.mjs')) cpSync(join(root, 'adapters', String(entry)), join(outDir, 'adapters', String(entry)));
}
// What the code reads of package.json (its version, ESM), at the place the sources find it.
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
writeFileSync(join(outDir, 'package.json'), `${JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module', private: true }, null, 2)}\n`);
// The CLI of the build, also the command report rendering runs as a child process.
mkdirSync(join(outDir, 'bin'), { recursive: true });
writeFileSync(join(outDir, 'bin/daqflow.js'), "#!/usr/bin/env node\nimport '../adapters/cli/main.js';\n", { mode: 0o755 });
// Dated at the build's start: a source saved while tsc ran counts as newer than the build.
writeFileSync(join(outDir, '.build-stamp'), `${started.toISOString()}\n`);
utimesSync(join(outDir, '.build-stamp'), started, started);
process.stdout.write(`build: ${relative(root, outDir) || '.'} ready (${((Date.now() - started.getTime()) / 1000).toFixed(1)} s); run it with: node ${relative(root, join(outDir, 'bin/daqflow.js'))} --help\n`);
