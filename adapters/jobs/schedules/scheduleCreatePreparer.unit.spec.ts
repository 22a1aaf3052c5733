import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { demoActor } from '../../../actors/demo/index.js';
import { defineActor } from '../../../actors/runtime/actorDefinition.js';
import { scheduleActor } from '../../../actors/schedules/index.js';
import { ValidationError } from '../../../events/errors.js';
import { scheduleCreatePreparer } from './scheduleCreatePreparer.js';

const preparer = scheduleCreatePreparer({
  timeZone: 'Europe/Zurich',
  definitions: [defineActor(demoActor), defineActor(scheduleActor)],
  requestSchemaOf: (kind, command) => (kind === 'demo' && command === 'start' ? z.strictObject({ steps: z.number().optional() }) : undefined),
});
const body = (target: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ name: 'n', cron: '@daily', target, ...extra });

describe('scheduleCreatePreparer', () => {
  it('fills in the configured zone, and keeps one given', async () => {
    await expect(preparer.prepare(body({ kind: 'demo', command: 'start' }))).resolves.toMatchObject({ timeZone: 'Europe/Zurich' });
    await expect(preparer.prepare(body({ kind: 'demo', command: 'start' }, { timeZone: 'UTC' }))).resolves.toMatchObject({ timeZone: 'UTC' });
  });

  it('refuses an unknown kind, a command that creates nothing and a payload the target refuses', async () => {
    await expect(preparer.prepare(body({ kind: 'grub', command: 'start' }))).rejects.toThrow(/target.kind: no actor kind grub \(known: demo, schedule\)/);
    await expect(preparer.prepare(body({ kind: 'demo', command: 'note' }))).rejects.toThrow(/target.command: note does not create a demo \(use start\)/);
    const refused = preparer.prepare(body({ kind: 'demo', command: 'start', payload: { steps: 'three' } }));
    await expect(refused).rejects.toBeInstanceOf(ValidationError);
    await expect(refused).rejects.toThrow(/target.payload.steps: /);
  });

  it('leaves a malformed target to the command schema', async () => {
    await expect(preparer.prepare(body({ kind: 3 } as never))).resolves.toMatchObject({ target: { kind: 3 } });
  });
});
