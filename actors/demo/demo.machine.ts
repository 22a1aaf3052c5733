import { assign, setup } from 'xstate';
import { effect, type Deadline } from '../runtime/actorDefinition.js';
import type { DemoEvent } from './demo.events.js';

export interface DemoContext {
  readonly id: string;
  readonly label: string;
  readonly steps: number;
  readonly intervalMs: number;
  readonly failAtStep: number | null;
  readonly done: number;
  readonly notes: number;
  readonly lastResult: string | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly error: string | null;
  readonly deadlines: Readonly<Record<string, Deadline>>;
}

const plusMs = (time: string, ms: number): string => new Date(Date.parse(time) + ms).toISOString();

const tickAfter = (time: string, intervalMs: number, step: number): Record<string, Deadline> => ({
  tick: { at: plusMs(time, intervalMs), event: { type: 'tickDue', data: { step } } },
});

/** The effects this machine requests, with their params; `adapters/jobs/demo/demoEffects.ts` implements them. */
export const demoEffectActions = {
  work: effect<{ step: number; failAtStep: number | null; label: string }>(),
};

/**
 * The demo job: `steps` steps, one every `intervalMs`, each done by the `work` effect. It
 * exercises every part of the runtime (durable deadlines, effects whose results come back as
 * events, cancellation, failure) without facility hardware.
 */
export const demoMachine = setup({
  types: {
    context: {} as DemoContext,
    events: {} as DemoEvent,
    input: {} as { id: string },
  },
  actions: {
    // Implemented by the runtime's effect handlers; the machine only names it.
    ...demoEffectActions,
  },
  guards: {
    isNextStep: ({ context, event }) =>
      (event.type === 'tickDue' || event.type === 'stepDone') && event.data.step === context.done + 1,
    isLastStep: ({ context, event }) => event.type === 'stepDone' && event.data.step >= context.steps,
  },
}).createMachine({
  id: 'demo',
  context: ({ input }) => ({
    id: input.id,
    label: '',
    steps: 0,
    intervalMs: 0,
    failAtStep: null,
    done: 0,
    notes: 0,
    lastResult: null,
    startedAt: null,
    finishedAt: null,
    error: null,
    deadlines: {},
  }),
  initial: 'idle',
  states: {
    idle: {
      on: {
        started: {
          target: 'waiting',
          actions: assign(({ event }) => ({
            steps: event.data.steps,
            intervalMs: event.data.intervalMs,
            label: event.data.label,
            failAtStep: event.data.failAtStep,
            startedAt: event.time,
            deadlines: tickAfter(event.time, event.data.intervalMs, 1),
          })),
        },
      },
    },
    waiting: {
      on: {
        tickDue: {
          guard: 'isNextStep',
          target: 'working',
          actions: [
            assign({ deadlines: {} }),
            {
              type: 'work',
              params: ({ context, event }) => ({
                step: event.data.step,
                failAtStep: context.failAtStep,
                label: context.label,
              }),
            },
          ],
        },
        noted: { actions: assign({ notes: ({ context }) => context.notes + 1 }) },
        cancelled: {
          target: 'cancelled',
          actions: assign(({ event }) => ({ deadlines: {}, finishedAt: event.time, error: event.data.reason || null })),
        },
      },
    },
    working: {
      on: {
        stepDone: [
          {
            guard: 'isLastStep',
            target: 'completed',
            actions: assign(({ context, event }) => ({
              done: context.done + 1,
              lastResult: event.data.result,
              finishedAt: event.time,
            })),
          },
          {
            guard: 'isNextStep',
            target: 'waiting',
            actions: assign(({ context, event }) => ({
              done: context.done + 1,
              lastResult: event.data.result,
              deadlines: tickAfter(event.time, context.intervalMs, context.done + 2),
            })),
          },
        ],
        effectFailed: {
          target: 'failed',
          actions: assign(({ event }) => ({ error: `${event.data.effect}: ${event.data.message}`, finishedAt: event.time })),
        },
        noted: { actions: assign({ notes: ({ context }) => context.notes + 1 }) },
        cancelled: {
          target: 'cancelled',
          actions: assign(({ event }) => ({ finishedAt: event.time, error: event.data.reason || null })),
        },
      },
    },
    completed: { type: 'final' },
    failed: { type: 'final' },
    cancelled: { type: 'final' },
  },
});
