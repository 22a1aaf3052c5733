import { z } from 'zod';
import { effectFailedSchema } from '../../../../actors/runtime/effectFailed.js';
import type { EventSchema } from '../../../../events/eventSchemas.js';

export const pingEventSchemas = {
  requested: { version: 1, schema: z.object({ text: z.string() }) },
  answered: { version: 1, schema: z.object({ answer: z.string() }) },
  effectFailed: { version: 1, schema: effectFailedSchema },
} as const satisfies Record<string, EventSchema>;

type DataOf<K extends keyof typeof pingEventSchemas> = z.infer<(typeof pingEventSchemas)[K]['schema']>;

export type PingEvent = {
  [K in keyof typeof pingEventSchemas]: { type: K; data: DataOf<K>; time: string };
}[keyof typeof pingEventSchemas];
