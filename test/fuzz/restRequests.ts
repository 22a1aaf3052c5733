import fc from 'fast-check';
import { hostileBody } from './natsBodies.js';

/**
 * Generated HTTP requests for the REST shim's fuzz: a method, a request target (path and query)
 * and a body, as raw bytes a hostile or broken client could send. The routes are those of
 * docs/rest-shim.md; valid calls are mixed in so that the hostile ones meet every state of the
 * shim's current acquisition (none, writing, ended).
 */
export interface RestRequest {
  readonly method: string;
  readonly target: string;
  readonly body: Uint8Array | string;
}

/** The shim's body limit (64 KiB by default). */
export const SHIM_MAX_BODY_BYTES = 64 * 1024;

const REQUIRED = ['general/created', 'general/user', 'general/process', 'general/instrument'] as const;
const FIELDS = [...REQUIRED, 'output_file', 'channels', 'on_loss'];

const routeNames = ['status', 'statistics', 'parameters', 'start_pulse_id', 'start_now', 'stop_pulse_id', 'stop_now', 'stop', 'kill'];

const methods = fc.oneof(
  { arbitrary: fc.constantFrom('GET', 'POST', 'PUT'), weight: 6 },
  { arbitrary: fc.constantFrom('DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'SEARCH', 'get', 'FOO'), weight: 2 },
);

/** Pulse-id segments at and past every bound, and what is not a number at all. */
const pulseSegment = fc.oneof(
  fc.constantFrom('0', '1', '-1', '1.5', '1e3', '9007199254740991', '9007199254740992', '99999999999999999999', 'abc', '', '%', '%zz', '%00', '%2F', '0x10', ' 1', '١٢٣'),
  fc.nat().map(String),
);

const segment = fc.oneof(
  { arbitrary: fc.constantFrom(...routeNames), weight: 6 },
  { arbitrary: pulseSegment, weight: 3 },
  { arbitrary: fc.constantFrom('..', '.', '%2e%2e', '__proto__', 'constructor', '%c0%af', '%ff', 'a'.repeat(2_000), '*'), weight: 2 },
  { arbitrary: fc.string({ maxLength: 12 }).map(encodeURIComponent), weight: 1 },
);

const query = fc.oneof(
  { arbitrary: fc.constant(''), weight: 4 },
  { arbitrary: fc.constantFrom('?', '?a=1', '?a=1&a=2', '?__proto__[x]=1', '?%zz', '?x=%00', `?q=${'a'.repeat(4_000)}`, '?#frag'), weight: 2 },
  { arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 4 }).map((d) => `?${new URLSearchParams(d)}`), weight: 1 },
);

const target = fc.oneof(
  { arbitrary: fc.tuple(fc.array(segment, { minLength: 1, maxLength: 3 }), fc.boolean(), query).map(([s, slash, q]) => `/${s.join('/')}${slash ? '/' : ''}${q}`), weight: 8 },
  // Targets a browser would not send but the request line can carry.
  { arbitrary: fc.constantFrom('/', '//status', '/status//', '/./status', '/%2e%2e/status', 'http://other.host/status', 'http://[', '*', '/status?', '/STATUS'), weight: 2 },
);

/** Parameters that pass the mandatory-key check, with one field of a hostile value: the body reaches the code past the check. */
const parametersWithHostileField = fc
  .record({
    key: fc.constantFrom(...FIELDS, '__proto__', 'constructor', 'extra'),
    value: fc.oneof(
      fc.constantFrom('"a\\u0000b"', '"\\ud800"', '"../../etc/passwd"', '"/"', '""', '1e400', 'null', '[]', '{}', '[""]', `"${'a'.repeat(256)}"`, '{"__proto__":{"x":1}}'),
      fc.constantFrom(64, 65, 1_000, 20_000).map((depth) => `${'['.repeat(depth)}1${']'.repeat(depth)}`),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    ),
  })
  .map(({ key, value }) => `{${REQUIRED.map((k) => `${JSON.stringify(k)}:"fuzz"`).join(',')},${JSON.stringify(key)}:${value}}`);

/** Valid calls, so that the hostile ones meet an acquisition that is running, has ended, or was never started. */
const validCall = (nextFile: () => string): fc.Arbitrary<RestRequest> =>
  fc.constantFrom('parameters', 'start_now', 'stop_now', 'stop', 'kill', 'start_pulse_id', 'status').map((what): RestRequest => {
    switch (what) {
      case 'parameters':
        return {
          method: 'POST',
          target: '/parameters',
          body: JSON.stringify({ ...Object.fromEntries(REQUIRED.map((k) => [k, 'fuzz'])), output_file: nextFile() }),
        };
      case 'start_now':
        return { method: 'PUT', target: '/start_now', body: JSON.stringify({ output_file: nextFile() }) };
      case 'stop_now':
        return { method: 'PUT', target: '/stop_now', body: '' };
      case 'start_pulse_id':
        return { method: 'PUT', target: '/start_pulse_id/1', body: '' };
      case 'status':
        return { method: 'GET', target: '/status', body: '' };
      default:
        return { method: 'GET', target: `/${what}`, body: '' };
    }
  });

/** Every kind of request, hostile and valid. `nextFile` names a fresh output file for each valid start. */
export const restRequest = (nextFile: () => string): fc.Arbitrary<RestRequest> =>
  fc.oneof(
    { arbitrary: fc.record({ method: methods, target, body: fc.constant('') }), weight: 4 },
    {
      arbitrary: fc.record({
        method: fc.constantFrom('POST', 'PUT'),
        target: fc.constantFrom('/parameters', '/start_now', '/start_pulse_id/1', '/stop_now'),
        body: fc.oneof(
          { arbitrary: hostileBody({ fields: FIELDS, ids: ['x'], maxBodyBytes: SHIM_MAX_BODY_BYTES }), weight: 3 },
          { arbitrary: parametersWithHostileField, weight: 2 },
        ),
      }),
      weight: 6,
    },
    { arbitrary: validCall(nextFile), weight: 2 },
  );
