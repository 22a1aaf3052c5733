import { z } from 'zod';
import type { EventSchema } from '../../events/eventSchemas.js';
import { effectFailedSchema } from '../runtime/effectFailed.js';

export const demoEventSchemas = {
  started: {
    version: 1,
    schema: z.object({
      steps: z.number().int().min(1),
      intervalMs: z.number().int().min(0),
      label: z.string(),
      failAtStep: z.number().int().min(1).nullable(),
    }),
  },
  tickDue: { version: 1, schema: z.object({ step: z.number().int().min(1) }) },
  stepDone: { version: 1, schema: z.object({ step: z.number().int().min(1), result: z.string() }) },
  noted: { version: 1, schema: z.object({ text: z.string() }) },
  cancelled: { version: 1, schema: z.object({ reason: z.string() }) },
  effectFailed: { version: 1, schema: effectFailedSchema },
} as const satisfies Record<string, EventSchema>;

type DataOf<K extends keyof typeof demoEventSchemas> = z.infer<(typeof demoEventSchemas)[K]['schema']>;

/** Machine events of the demo actor: `{ type, data, time }` for each stored event type. */
export type DemoEvent = {
  [K in keyof typeof demoEventSchemas]: { type: K; data: DataOf<K>; time: string };
}[keyof typeof demoEventSchemas];
