import { createHash, randomUUID } from 'node:crypto';

/**
 * New ids: random, or derived from a seed (a request id) so that a retried request maps to
 * the same actor. Both are UUID-shaped and valid NATS subject tokens.
 */
export const newId = (seed?: string): string => {
  if (seed === undefined) return randomUUID();
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
};
