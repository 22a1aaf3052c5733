import { z } from 'zod';
import { command, type ActorDefinition } from '../runtime/actorDefinition.js';
import { demoEventSchemas } from './demo.events.js';
import { demoMachine, demoEffectActions } from './demo.machine.js';

/** Parameters of the `work` effect, as the machine requests it. */
export interface DemoWorkParams {
  readonly step: number;
  readonly failAtStep: number | null;
  readonly label: string;
}

export const demoActor: ActorDefinition<typeof demoMachine, typeof demoEffectActions> = {
  kind: 'demo',
  machine: demoMachine,
  effects: demoEffectActions,
  eventSchemas: demoEventSchemas,
  commands: {
    start: command({
      creates: true,
      schema: z.strictObject({
        steps: z.number().int().min(1).max(100_000).default(3),
        intervalMs: z.number().int().min(0).max(86_400_000).default(1_000),
        label: z.string().max(200).default(''),
        failAtStep: z.number().int().min(1).optional(),
      }),
      toEvent: (p) => ({
        type: 'started',
        data: { steps: p.steps, intervalMs: p.intervalMs, label: p.label, failAtStep: p.failAtStep ?? null },
      }),
    }),
    note: command({
      schema: z.strictObject({ text: z.string().min(1).max(1_000) }),
      toEvent: (p) => ({ type: 'noted', data: { text: p.text } }),
    }),
    cancel: command({
      schema: z.strictObject({ reason: z.string().max(1_000).default('') }),
      toEvent: (p) => ({ type: 'cancelled', data: { reason: p.reason } }),
    }),
  },
  summary: (snapshot) => ({
    label: snapshot.context.label,
    steps: snapshot.context.steps,
    done: snapshot.context.done,
    notes: snapshot.context.notes,
    lastResult: snapshot.context.lastResult,
    startedAt: snapshot.context.startedAt,
    finishedAt: snapshot.context.finishedAt,
    nextTickAt: snapshot.context.deadlines.tick?.at ?? null,
    ...(snapshot.context.error ? { error: snapshot.context.error } : {}),
  }),
  recover: (snapshot) =>
    snapshot.value === 'working'
      ? [
          {
            type: 'work',
            params: {
              step: snapshot.context.done + 1,
              failAtStep: snapshot.context.failAtStep,
              label: snapshot.context.label,
            } satisfies DemoWorkParams,
          },
        ]
      : [],
};
