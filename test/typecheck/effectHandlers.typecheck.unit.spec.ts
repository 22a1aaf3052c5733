import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const fixture = join(import.meta.dirname, 'effectHandlers.typecheck.ts');

// `npm run typecheck` compiles the fixture as it is (each @ts-expect-error must meet an error);
// here the directives are taken out, and each case must then be an error of its own.
describe('effect handlers typed from the machine', () => {
  it('refuses a misspelled, a missing and a mistyped effect handler', () => {
    const text = readFileSync(fixture, 'utf8').replace(/\/\/ @ts-expect-error[^\n]*/g, '//');
    const config = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
    if (!config) throw new Error('tsconfig.json did not parse');
    const host = ts.createCompilerHost(config.options);
    const readFile = host.readFile.bind(host);
    host.readFile = (name) => (name === fixture ? text : readFile(name));
    const program = ts.createProgram([fixture], config.options, host);
    const errors = ts
      .getPreEmitDiagnostics(program, program.getSourceFile(fixture))
      .map((d) => `${ts.getLineAndCharacterOfPosition(d.file!, d.start!).line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
    expect(errors.some((e) => /'wrok' does not exist/.test(e))).toBe(true);
    expect(errors.some((e) => /Property 'work' is missing in type '\{\}'/.test(e))).toBe(true);
    expect(errors.some((e) => /Type 'string' is not assignable to type 'number'|not assignable to type '\{ step: string; \}'/.test(e))).toBe(true);
    expect(errors.some((e) => /Property 'work' is missing in type '\{ wrok/.test(e))).toBe(true);
    expect(errors).toHaveLength(4);
  }, 120_000);
});
