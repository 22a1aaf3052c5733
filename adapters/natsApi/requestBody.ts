import type { z } from 'zod';
import { DaqflowError, ValidationError } from '../../events/errors.js';

/** Largest request body accepted unless a service is told otherwise: 256 KiB. */
export const DEFAULT_MAX_BODY_BYTES = 256 * 1024;

/** A request body that parsed to a JSON object. */
export type RequestBody = Record<string, unknown>;

const sizeText = (bytes: number): string =>
  bytes % 1024 === 0 ? `${bytes} bytes (${bytes / 1024} KiB)` : `${bytes} bytes`;

const kindOf = (value: unknown): string => (value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`);

// fatal: invalid UTF-8 must be refused, not silently turned into U+FFFD inside a field.
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses a request body into a JSON object. An empty (or blank) body is `{}` so that `get`-like
 * requests need no body; everything else that is not a JSON object within the size limit is an
 * INVALID_REQUEST (status 400). Throws only DaqflowErrors, for the endpoint wrapper to reply with.
 */
export const parseRequestBody = (data: Uint8Array, maxBytes = DEFAULT_MAX_BODY_BYTES): RequestBody => {
  if (data.length > maxBytes) {
    // Checked before decoding: an oversized body costs nothing more than its arrival.
    throw new DaqflowError(
      'INVALID_REQUEST',
      `request body is ${data.length} bytes, over the limit of ${sizeText(maxBytes)}`,
      { size: data.length, limit: maxBytes },
    );
  }
  let text: string;
  try {
    text = decoder.decode(data);
  } catch {
    throw new DaqflowError('INVALID_REQUEST', 'malformed JSON: body is not valid UTF-8', {});
  }
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new DaqflowError('INVALID_REQUEST', `malformed JSON: ${reason.slice(0, 200)}`, {});
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new DaqflowError('INVALID_REQUEST', `request body must be a JSON object, got ${kindOf(value)}`, {
      got: kindOf(value),
    });
  }
  return value as RequestBody;
};

/** Validates a parsed body with a zod schema; failures are VALIDATION_FAILED with issue paths. */
export const validateBody = <Schema extends z.ZodType>(schema: Schema, body: unknown, what: string): z.output<Schema> => {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const summary = parsed.error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(body)'}: ${i.message}`)
    .join('; ');
  throw new ValidationError(`invalid ${what}: ${summary}`, parsed.error.issues);
};
