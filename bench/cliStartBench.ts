/**
 * How long `daqflow --help` takes from a cold `node` start to its exit: the build (`npm run build`)
 * against the sources through tsx's loader, the way every start went before the build existed.
 * Runs are interleaved (tsx, build, build, floor, …) so that the machine's load falls on each alike.
 *
 *   npm run bench:start -- [--runs 5]
 *
 * Builds dist/ first when it is missing or older than a source. Prints a Markdown table.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { ensureBuild, repositoryRoot as root } from './ensureBuild.js';
import { fmt, median } from './stats.js';

const runsFlag = process.argv.indexOf('--runs');
const runs = runsFlag >= 0 ? Number(process.argv[runsFlag + 1]) : 5;
if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs takes a whole number of runs, 1 or more');

const cleanEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DAQFLOW_') && !k.startsWith('NODE_OPTIONS')) env[k] = v;
  return { ...env, ...extra };
};

interface Variant {
  readonly name: string;
  readonly args: readonly string[];
  readonly env: Record<string, string>;
}
const variants: readonly Variant[] = [
  { name: 'sources through tsx (baseline: the start before the build)', args: ['bin/daqflow.js', '--help'], env: { DAQFLOW_FROM_SOURCE: '1' } },
  { name: 'build, through bin/daqflow.js (checks the build is current)', args: ['bin/daqflow.js', '--help'], env: {} },
  { name: 'build, dist/bin/daqflow.js directly', args: ['dist/bin/daqflow.js', '--help'], env: {} },
  { name: 'floor: `node -e 0`', args: ['-e', '0'], env: {} },
];

ensureBuild((line) => process.stderr.write(`bench:start: ${line}\n`));

const times = new Map<string, number[]>(variants.map((v) => [v.name, []]));
for (let run = 0; run < runs; run++) {
  for (const variant of variants) {
    const started = process.hrtime.bigint();
    const result = spawnSync(process.execPath, variant.args, { cwd: root, env: cleanEnv(variant.env), stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (result.status !== 0 || (variant.args.includes('--help') && !result.stdout.startsWith('Usage: daqflow'))) {
      throw new Error(`${variant.name}: exit ${result.status}\n${result.stderr}`);
    }
    times.get(variant.name)?.push(ms);
    process.stderr.write(`run ${run + 1}/${runs} ${variant.name}: ${fmt(ms)} ms\n`);
  }
}

const baseline = median(times.get(variants[0]!.name)!);
const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
const out = [
  `\`daqflow --help\`, wall time from spawn to exit, ${runs} runs each, interleaved; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} at the end`,
  '',
  line(['start', 'median', 'min', 'max', 'runs (ms)', 'median / tsx start']),
  line(['---', '---:', '---:', '---:', '---', '---:']),
  ...variants.map((v) => {
    const xs = times.get(v.name)!;
    return line([v.name, `${fmt(median(xs))} ms`, `${fmt(Math.min(...xs))} ms`, `${fmt(Math.max(...xs))} ms`, xs.map((x) => fmt(x)).join(', '), (median(xs) / baseline).toFixed(2)]);
  }),
];
process.stdout.write(`${out.join('\n')}\n`);
