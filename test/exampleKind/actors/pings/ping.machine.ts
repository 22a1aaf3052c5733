import { assign, setup } from 'xstate';
import { effect } from '../../../../actors/runtime/actorDefinition.js';
import type { PingEvent } from './ping.events.js';

export interface PingContext {
  readonly text: string;
  readonly answer: string | null;
  readonly error: string | null;
  readonly deadlines: Record<string, never>;
}

/** The effects the ping machine requests; `../../jobs/pings/pingEffects.ts` implements them. */
export const pingEffectActions = {
  answer: effect<{ text: string }>(),
};

/** The smallest job: asked for a text, one effect answers it. */
export const pingMachine = setup({
  types: { context: {} as PingContext, events: {} as PingEvent, input: {} as { id: string } },
  actions: { ...pingEffectActions },
}).createMachine({
  id: 'ping',
  context: { text: '', answer: null, error: null, deadlines: {} },
  initial: 'idle',
  states: {
    idle: {
      on: {
        requested: {
          target: 'answering',
          actions: [assign(({ event }) => ({ text: event.data.text })), { type: 'answer', params: ({ event }) => ({ text: event.data.text }) }],
        },
      },
    },
    answering: {
      on: {
        answered: { target: 'answered', actions: assign(({ event }) => ({ answer: event.data.answer })) },
        effectFailed: { target: 'failed', actions: assign(({ event }) => ({ error: event.data.message })) },
      },
    },
    answered: { type: 'final' },
    failed: { type: 'final' },
  },
});
