import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allActorDefinitions } from './registry.js';

// A registered kind without recorded histories could change its machine unnoticed: actors stored
// by an older daqflow would then fail to replay (recorded with test/tools/recordHistory.ts).
const root = join(import.meta.dirname, '..', '..');

const replaySpecs = (): string[] =>
  readdirSync(join(root, 'actors'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.replay.unit.spec.ts'))
    .map((f) => join(root, 'actors', f))
    .filter((f) => readFileSync(f, 'utf8').includes('describeGoldenHistories('));

describe('every registered kind has golden histories', () => {
  for (const { kind } of allActorDefinitions) {
    it(`${kind} has recorded histories`, () => {
      const folder = join(root, 'test', 'fixtures', 'histories', kind);
      expect(existsSync(folder), relative(root, folder)).toBe(true);
      expect(readdirSync(folder).filter((f) => f.endsWith('.json')).length).toBeGreaterThan(0);
    });
  }

  it('and one replay spec per kind replays them', () => {
    expect(replaySpecs().length).toBe(allActorDefinitions.length);
  });
});
