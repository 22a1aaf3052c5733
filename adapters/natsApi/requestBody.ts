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

// PostgreSQL's text and jsonb hold neither NUL nor a lone UTF-16 surrogate: an event carrying one
// is stored, then refused by every projection write, and the projector stops at it for good.
// eslint-disable-next-line no-control-regex -- NUL is what it looks for
const unstorable = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

interface Visit {
  readonly value: unknown;
  readonly parent: Visit | undefined;
  readonly key: string | number | undefined;
}

// Built only for the one path reported, and at most 20 steps of it: nesting may be 100 000 deep.
const pathOf = (at: Visit): string => {
  const keys: Array<string | number> = [];
  for (let v: Visit | undefined = at; v?.key !== undefined; v = v.parent) keys.push(v.key);
  const shown = keys.reverse().slice(0, 20).map(String).join('.');
  return keys.length > 20 ? `${shown}...` : shown || '(body)';
};

/**
 * The path of the first key or string in `value` that PostgreSQL cannot store, or undefined.
 * Iterative: a body nested 100 000 deep must not cost the stack.
 */
export const unstorableTextPath = (value: unknown): string | undefined => {
  const stack: Visit[] = [{ value, parent: undefined, key: undefined }];
  for (let at = stack.pop(); at !== undefined; at = stack.pop()) {
    const v = at.value;
    if (typeof v === 'string') {
      if (unstorable.test(v)) return pathOf(at);
    } else if (Array.isArray(v)) {
      v.forEach((item, key) => stack.push({ value: item, parent: at, key }));
    } else if (v !== null && typeof v === 'object') {
      for (const [key, item] of Object.entries(v)) {
        if (unstorable.test(key)) return pathOf({ value: item, parent: at, key });
        stack.push({ value: item, parent: at, key });
      }
    }
  }
  return undefined;
};

/**
 * Parses a request body into a JSON object. An empty (or blank) body is `{}` so that `get`-like
 * requests need no body; everything else that is not a JSON object within the size limit, or that
 * holds text PostgreSQL cannot store (see {@link unstorableTextPath}), is an INVALID_REQUEST
 * (status 400). Throws only DaqflowErrors, for the endpoint wrapper to reply with.
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
  const bad = unstorableTextPath(value);
  if (bad !== undefined) {
    throw new DaqflowError('INVALID_REQUEST', `${bad}: text may not hold NUL (\\u0000) or an unpaired surrogate`, { path: bad });
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
