import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

// The purity of machine and event files is a lint rule; these cases prove the rule bites.
const eslint = new ESLint({ cwd: import.meta.dirname + '/..' });
const lint = async (filePath: string, code: string): Promise<string[]> => {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map((m) => `${m.ruleId}: ${m.message}`);
};

// The first lint builds the type-aware program of the whole project (15 s on a quiet 2-core
// machine, several times that under load); it is set-up, paid once, not part of any case.
beforeAll(async () => {
  await lint('adapters/ids.ts', 'export const warm = 1;\n');
}, 180_000);

describe('lint boundaries', () => {
  it('refuses I/O, clocks and randomness in machine files', async () => {
    const messages = await lint(
      'actors/demo/demo.machine.ts',
      "import { readFileSync } from 'node:fs';\nimport pg from 'pg';\nexport const f = (): unknown => [readFileSync, pg, Date.now(), Math.random(), new Date()];\n",
    );
    expect(messages.filter((m) => m.startsWith('no-restricted-imports'))).toHaveLength(2);
    expect(messages.filter((m) => m.startsWith('no-restricted-properties'))).toHaveLength(2);
    expect(messages.filter((m) => m.startsWith('no-restricted-syntax'))).toHaveLength(1);
  });

  it('refuses adapters and Node built-ins in events/', async () => {
    const messages = await lint('events/envelope.ts', "import { connect } from '@nats-io/transport-node';\nimport { x } from '../adapters/ids.js';\nexport const y = [connect, x];\n");
    expect(messages.filter((m) => m.startsWith('no-restricted-imports'))).toHaveLength(2);
  });

  it('keeps migrations frozen: they import kysely only', async () => {
    const messages = await lint('migrations/2026_11_22_000100_create_projection_checkpoint.ts', "import { x } from '../adapters/ids.js';\nexport const y = x;\n");
    expect(messages.some((m) => m.startsWith('no-restricted-imports'))).toBe(true);
  });

  it('refuses a job kind or a job module in a technology adapter', async () => {
    const messages = await lint(
      'adapters/hdf5/grabFileWriter.ts',
      "import { grabRunActor } from '../../actors/grabs/index.js';\nimport { grabsModule } from '../jobs/grabs/index.js';\nimport type { Logger } from '../../actors/runtime/logger.js';\nexport const y: unknown[] = [grabRunActor, grabsModule, {} as Logger];\n",
    );
    expect(messages.filter((m) => m.startsWith('no-restricted-imports'))).toEqual([
      expect.stringContaining('knows no job kind'),
      expect.stringContaining('knows no job module'),
    ]);
  });

  it("lets projections read a kind's event schemas, not its machine", async () => {
    const messages = await lint(
      'projections/grabStatistics.projection.ts',
      "import { grabRunEventSchemas } from '../actors/grabs/grabRun.events.js';\nimport { grabRunMachine } from '../actors/grabs/grabRun.machine.js';\nexport const y = [grabRunEventSchemas, grabRunMachine];\n",
    );
    expect(messages.filter((m) => m.startsWith('no-restricted-imports'))).toEqual([expect.stringContaining('grabRun.machine.js')]);
  });

  it('lets adapters do I/O', async () => {
    const messages = await lint('adapters/ids.ts', "import { readFileSync } from 'node:fs';\nexport const y = readFileSync;\n");
    expect(messages).toEqual([]);
  });
});
