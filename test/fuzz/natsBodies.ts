import fc from 'fast-check';

/**
 * Generated request bodies for the NATS API fuzz tier, as the bytes a client would send. Objects
 * are written as JSON text by hand, not with JSON.stringify of a built object: that is the only
 * way to send `__proto__` as an own key, and duplicate keys, as a hostile client can.
 */

/** What the generators need to know about one endpoint and the world around it. */
export interface BodyContext {
  /** The endpoint's own field names (from its request schema in `$SRV.INFO`), plus `id` and `requestId`. */
  readonly fields: readonly string[];
  /** Ids that exist: actors of this and other kinds, some of them in states that refuse commands. */
  readonly ids: readonly string[];
  /** The services' body limit in bytes. */
  readonly maxBodyBytes: number;
}

const encoder = new TextEncoder();

/** Numbers at and past the bounds the schemas use (int32, safe integers, doubles, limits like 1000 and 86 400 000). */
const boundaryNumbers = [
  0, -0, 1, -1, 0.5, -0.5, 2, 99, 100, 101, 127, 128, 200, 201, 999, 1_000, 1_001, 100_000, 100_001, 86_400_000, 86_400_001,
  2 ** 31 - 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e21, 1e308, -1e308, 5e-324,
  Number.MAX_VALUE,
];

/** Strings that have hurt services: control and null characters, lone surrogates, paths, subjects, huge ones. */
const nastyStrings = [
  '', ' ', '\u0000', 'a\u0000b', '\r\n', 'line\r\nNats-Service-Error-Code: 200', '\ud800', '\udfff', 'x\ud83d', '\u202e',
  '../../../../etc/passwd', '/', '.', '..', '*', '>', 'a.b', 'a b', '$SRV.PING', '%00', '${jndi:x}', "'; drop table actor_status; --",
  '__proto__', 'constructor', 'toString', 'NaN', 'Infinity', '-1', '1e400', 'null', 'true', '{}', '[]',
  '2026-02-30T25:61:00Z', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59.999999999+14:00', '2026-01-01T00:00:00', 'a'.repeat(129),
  'a'.repeat(201), 'a'.repeat(256), `${'d/'.repeat(2_100)}f.h5`, 'é'.repeat(200), '😀'.repeat(101),
];

const specialKeys = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', ' ', 'id ', 'ID', '\u0000'];

/** One JSON value of a hostile kind, as JSON text. */
const valueText = (ctx: BodyContext): fc.Arbitrary<string> =>
  fc.oneof(
    { arbitrary: fc.constantFrom(...boundaryNumbers).map((n) => JSON.stringify(n)), weight: 3 },
    // JSON.stringify turns what JSON cannot hold into null; these are written as the raw literals a client could send.
    { arbitrary: fc.constantFrom('1e400', '-1e400', '-0', '1E+308', '0.0000000000000000000001', '123456789012345678901234567890'), weight: 1 },
    { arbitrary: fc.constantFrom(...nastyStrings).map((s) => JSON.stringify(s)), weight: 3 },
    { arbitrary: ctx.ids.length ? fc.constantFrom(...ctx.ids).map((s) => JSON.stringify(s)) : fc.constant('"none"'), weight: 3 },
    { arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), weight: 3 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 64 }).map((s) => JSON.stringify(s)), weight: 2 },
    { arbitrary: fc.constantFrom('true', 'false', 'null', '[]', '{}', '[null]', '{"__proto__":{"polluted":1}}'), weight: 2 },
  );

const keyText = (ctx: BodyContext): fc.Arbitrary<string> =>
  fc.oneof(
    { arbitrary: fc.constantFrom(...ctx.fields), weight: 5 },
    { arbitrary: fc.constantFrom(...specialKeys), weight: 2 },
    { arbitrary: fc.string({ maxLength: 20 }), weight: 1 },
  ).map((k) => JSON.stringify(k));

/** An object of the endpoint's fields (some missing, some repeated, extras) with values of every wrong type. */
const fieldObject = (ctx: BodyContext): fc.Arbitrary<string> =>
  fc
    .array(fc.tuple(keyText(ctx), valueText(ctx)), { maxLength: 8 })
    .map((entries) => `{${entries.map(([k, v]) => `${k}:${v}`).join(',')}}`);

/** A plausible command aimed at an existing actor (maybe of another kind, maybe in a state that refuses it). */
const aimedCommand = (ctx: BodyContext): fc.Arbitrary<string> =>
  fc
    .record({
      id: ctx.ids.length ? fc.constantFrom(...ctx.ids) : fc.constant('none'),
      extra: fc.array(fc.tuple(fc.constantFrom(...ctx.fields), fc.oneof(fc.string({ maxLength: 30 }), fc.integer(), fc.boolean())), {
        maxLength: 3,
      }),
      requestId: fc.option(fc.string({ minLength: 1, maxLength: 40 }), { nil: undefined }),
    })
    .map(({ id, extra, requestId }) => {
      const body: Array<[string, unknown]> = [['id', id], ...extra];
      if (requestId !== undefined) body.push(['requestId', requestId]);
      return `{${body.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
    });

/** Top-level values that are not objects. */
const notAnObject = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }).filter((v) => v === null || typeof v !== 'object' || Array.isArray(v)).map((v) => JSON.stringify(v)),
  fc.constantFrom('', '   ', '\n', 'null', '"x"', '0', '[]', '[{}]', 'true', '{', '}', '{"a":}', '{"a":1,}', "{'a':1}", '{"a":1}{"b":2}', '\ufeff{}', 'NaN', 'undefined'),
);

/** Nesting deep enough to break a recursive walker, inside a field or as the whole body. */
const deepNesting = (ctx: BodyContext): fc.Arbitrary<string> =>
  fc
    .record({
      depth: fc.constantFrom(64, 1_000, 10_000, 100_000),
      open: fc.constantFrom('[', '{"a":'),
      field: fc.constantFrom(...ctx.fields),
      inField: fc.boolean(),
    })
    .map(({ depth, open, field, inField }) => {
      const close = open === '[' ? ']' : '}';
      const nest = `${open.repeat(depth)}1${close.repeat(depth)}`;
      return inField ? `{${JSON.stringify(field)}:${nest}}` : nest;
    });

/** A string or array field sized around the body limit: just under, at, and just over. */
const nearTheLimit = (ctx: BodyContext): fc.Arbitrary<string> =>
  fc
    .record({
      field: fc.constantFrom(...ctx.fields),
      delta: fc.constantFrom(-64, -1, 0, 1, 64, 4_096),
      shape: fc.constantFrom('string', 'array', 'keys'),
    })
    .map(({ field, delta, shape }) => {
      const target = ctx.maxBodyBytes + delta;
      const head = `{${JSON.stringify(field)}:`;
      if (shape === 'string') return `${head}"${'x'.repeat(Math.max(0, target - head.length - 3))}"}`;
      if (shape === 'array') {
        const count = Math.max(0, Math.floor((target - head.length - 3) / 2));
        return `${head}[${Array(count).fill('0').join(',')}]}`;
      }
      // Many small keys: the cost of a wide object, not a long string.
      const keys: string[] = [];
      let size = 2;
      for (let i = 0; size < target; i++) {
        const entry = `"k${i}":0`;
        keys.push(entry);
        size += entry.length + 1;
      }
      return `{${keys.join(',')}}`;
    });

/** Bytes that are not UTF-8, or not text: lone continuation bytes, overlongs, encoded surrogates, NUL, noise. */
const notUtf8 = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 512 }),
  fc.constantFrom(
    Uint8Array.of(0xff),
    Uint8Array.of(0xfe, 0xff),
    Uint8Array.of(0xc0, 0xaf),
    Uint8Array.of(0xed, 0xa0, 0x80),
    Uint8Array.of(0xf4, 0x90, 0x80, 0x80),
    Uint8Array.of(0x00),
  ),
  // Invalid bytes inside an otherwise fine JSON string value.
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((bad) => {
    const head = encoder.encode('{"label":"');
    const tail = encoder.encode('"}');
    const out = new Uint8Array(head.length + bad.length + 1 + tail.length);
    out.set(head, 0);
    out.set(bad, head.length);
    out[head.length + bad.length] = 0x80;
    out.set(tail, head.length + bad.length + 1);
    return out;
  }),
);

/** Every kind of bad body, weighted so that each appears in a few dozen cases. */
export const hostileBody = (ctx: BodyContext): fc.Arbitrary<Uint8Array | string> =>
  fc.oneof(
    { arbitrary: fieldObject(ctx), weight: 6 },
    { arbitrary: aimedCommand(ctx), weight: 3 },
    { arbitrary: notAnObject, weight: 2 },
    { arbitrary: deepNesting(ctx), weight: 1 },
    { arbitrary: nearTheLimit(ctx), weight: 1 },
    { arbitrary: notUtf8, weight: 2 },
  );
