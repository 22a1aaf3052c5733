import { z } from 'zod';
import { command, type ActorDefinition } from '../../../../actors/runtime/actorDefinition.js';
import { pingEventSchemas } from './ping.events.js';
import { pingEffectActions, pingMachine } from './ping.machine.js';

export const pingActor: ActorDefinition<typeof pingMachine, typeof pingEffectActions> = {
  kind: 'ping',
  machine: pingMachine,
  effects: pingEffectActions,
  eventSchemas: pingEventSchemas,
  commands: {
    start: command({
      creates: true,
      schema: z.strictObject({ text: z.string().min(1).max(100) }),
      toEvent: (p) => ({ type: 'requested', data: { text: p.text } }),
    }),
  },
  summary: (snapshot) => ({
    text: snapshot.context.text,
    answer: snapshot.context.answer,
    ...(snapshot.context.error ? { error: snapshot.context.error } : {}),
  }),
  recover: (snapshot) => (snapshot.value === 'answering' ? [{ type: 'answer', params: { text: snapshot.context.text } }] : []),
};
