// `npm run fuzz -- --cases N [--seed S] [spec filter]`: the fuzz tier (test/fuzz/*.fuzz.spec.ts)
// with N generated cases per door instead of `npm test`'s few dozen, and a seed to replay a
// failure (fast-check prints it with every counterexample). The same as DAQFLOW_FUZZ_CASES and
// DAQFLOW_FUZZ_SEED on a plain `vitest run test/fuzz`.
import { spawn } from 'node:child_process';

const args = process.argv.slice(2);
const env: NodeJS.ProcessEnv = { ...process.env };
const filters: string[] = [];
for (let i = 0; i < args.length; i++) {
  const arg = args[i];
  if (arg === '--cases' || arg === '--seed') {
    const value = args[++i];
    if (value === undefined || !/^-?\d+$/.test(value)) {
      console.error(`fuzz: ${arg} takes an integer`);
      process.exit(2);
    }
    env[arg === '--cases' ? 'DAQFLOW_FUZZ_CASES' : 'DAQFLOW_FUZZ_SEED'] = value;
  } else if (arg === '--help' || arg === '-h') {
    console.log('usage: npm run fuzz -- [--cases N] [--seed S] [spec filter...]');
    process.exit(0);
  } else {
    if (arg !== undefined) filters.push(arg);
  }
}
const child = spawn(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...(filters.length ? filters : ['.fuzz.spec'])], {
  env,
  stdio: 'inherit',
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
