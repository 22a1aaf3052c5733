import { z } from 'zod';

/**
 * The `effectFailed` event every kind stores when an effect throws: which effect, the message,
 * and, when the error carried them, its `code` and whether another attempt may help
 * (`retryable`). Both are optional, so events stored before they were recorded still read.
 */
export const effectFailedSchema = z.object({
  effect: z.string(),
  message: z.string(),
  code: z.string().optional(),
  retryable: z.boolean().optional(),
});

export type EffectFailedData = z.infer<typeof effectFailedSchema>;

/** The `effectFailed` data of an error thrown by `effect`: its own code and retryable flag kept. */
export const effectFailedData = (effect: string, error: unknown): EffectFailedData => {
  const { code, retryable } = (typeof error === 'object' && error !== null ? error : {}) as { code?: unknown; retryable?: unknown };
  return {
    effect,
    message: error instanceof Error ? error.message : String(error),
    ...(typeof code === 'string' ? { code } : {}),
    ...(typeof retryable === 'boolean' ? { retryable } : {}),
  };
};
