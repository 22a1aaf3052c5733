import { createHash } from 'node:crypto';

// A header line ends at CR or LF, and NUL and the other control characters have no business in
// one: nats.js throws on the first two, and servers or proxies may mangle the rest.
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const controlCharacter = /[\u0000-\u001f\u007f]/;

/**
 * The `Nats-Msg-Id` header value for an idempotency key. Keys are made of a client's `requestId`,
 * which docs/api.md allows to be any 1-200 characters; a key with a control character is sent as
 * `sha256:<hex>` of itself, still one stable value per key, so that deduplication holds for it
 * too. Every other key is sent unchanged, so the ids stored so far keep their meaning.
 */
export const msgIdHeader = (key: string): string =>
  controlCharacter.test(key) ? `sha256:${createHash('sha256').update(key).digest('hex')}` : key;
