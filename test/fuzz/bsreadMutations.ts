import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { encodeDataHeader, encodeMessage, type EncodedDataHeader } from '../../adapters/bsread/bsreadEncoder.js';
import type { BsreadCompression } from '../../adapters/bsread/bsreadMessage.js';
import { defaultSimulatedChannels, expectedTimestamp, expectedValue } from '../../adapters/bsread/bsreadSimulator.js';

/*
 * Bad bsread messages made from good ones. The good ones come from daqflow's own encoder (the
 * simulator's channels and values); the receiver's agreement with an independent sender is
 * bench/bsreadLibzmqSender.int.spec.ts's concern. Each mutation is one way a sender, a network
 * or an attacker could hand over something else than what the header promises.
 */

/** A data header of the simulator's channels, each with a compression, and the header's own. */
export const goodHeader = (compressions: readonly BsreadCompression[], headerCompression: BsreadCompression): EncodedDataHeader =>
  encodeDataHeader(
    defaultSimulatedChannels({ imageWidth: 16, imageHeight: 8, waveformLength: 64 }).map((c, i) => ({
      ...c,
      compression: compressions[i % compressions.length] ?? 'none',
    })),
    { compression: headerCompression },
  );

/** The good message of `pulseId` under `header`. */
export const goodMessage = (header: EncodedDataHeader, pulseId: number): Buffer[] =>
  encodeMessage({
    header,
    pulseId,
    globalTimestamp: expectedTimestamp(pulseId),
    values: header.channels.map((c) => expectedValue(c, pulseId)),
  });

const md5 = (bytes: Uint8Array): string => createHash('md5').update(bytes).digest('hex');

const withMain = (parts: Buffer[], change: (main: Record<string, unknown>) => void): Buffer[] => {
  const main = JSON.parse(parts[0]!.toString('utf8')) as Record<string, unknown>;
  change(main);
  return [Buffer.from(JSON.stringify(main)), ...parts.slice(1)];
};

/** A data header claiming `shape` for channel `index` (of `type`), sent uncompressed with its hash. */
const claimingHeader = (parts: Buffer[], header: EncodedDataHeader, index: number, shape: readonly number[], type?: string): Buffer[] => {
  const channels = header.channels.map((c, i) => ({ ...c, ...(i === index ? { shape, ...(type ? { type } : {}) } : {}) }));
  const bytes = Buffer.from(JSON.stringify({ htype: 'bsr_d-1.1', channels }));
  const out = withMain(parts, (main) => {
    main.hash = md5(bytes);
    delete main.dh_compression;
  });
  out[1] = bytes;
  return out;
};

/** The kinds of mutation, by the name docs/reliability.md counts them under. */
export type Mutation =
  | { kind: 'truncate'; part: number; keep: number }
  | { kind: 'flipBit'; part: number; byte: number; bit: number }
  | { kind: 'dropPart'; part: number }
  | { kind: 'extraPart'; at: number; bytes: Uint8Array }
  | { kind: 'hashWithoutHeader'; hash: string }
  | { kind: 'hugeShape'; channel: number; shape: readonly number[] }
  | { kind: 'lyingSizePrefix'; channel: number; size: number }
  | { kind: 'invalidJson'; part: 0 | 1; text: string }
  | { kind: 'wrongPulseId'; value: unknown }
  | { kind: 'garbage'; parts: Uint8Array[] };

const CLAIMS = [2 ** 31, 2 ** 32 + 1, 2 ** 40, 2 ** 53, Number.MAX_SAFE_INTEGER];

export const mutation = (channelCount: number): fc.Arbitrary<Mutation> => {
  const anyPart = fc.nat({ max: 2 + 2 * channelCount - 1 });
  const channel = fc.nat({ max: channelCount - 1 });
  return fc.oneof(
    fc.record({ kind: fc.constant('truncate' as const), part: anyPart, keep: fc.nat({ max: 4_096 }) }),
    fc.record({ kind: fc.constant('flipBit' as const), part: anyPart, byte: fc.nat({ max: 8_192 }), bit: fc.nat({ max: 7 }) }),
    fc.record({ kind: fc.constant('dropPart' as const), part: anyPart }),
    fc.record({ kind: fc.constant('extraPart' as const), at: anyPart, bytes: fc.uint8Array({ maxLength: 32 }) }),
    fc.record({ kind: fc.constant('hashWithoutHeader' as const), hash: fc.stringMatching(/^[0-9a-f]{32}$/) }),
    fc.record({
      kind: fc.constant('hugeShape' as const),
      channel,
      shape: fc.oneof(
        fc.constantFrom(...CLAIMS).map((n) => [n]),
        fc.constantFrom<number[]>([65_536, 65_536], [2 ** 20, 2 ** 20, 2 ** 20], [0], [-1], [1.5]),
      ),
    }),
    fc.record({ kind: fc.constant('lyingSizePrefix' as const), channel, size: fc.constantFrom(0, 1, 7, 2 ** 31 - 1, 2 ** 32 - 1) }),
    fc.record({
      kind: fc.constant('invalidJson' as const),
      part: fc.constantFrom(0 as const, 1 as const),
      text: fc.constantFrom('', '{', 'null', '[]', '{"channels":{}}', '{"pulse_id":"1"}', '\u0000', '{"a":'.repeat(10_000)),
    }),
    fc.record({
      kind: fc.constant('wrongPulseId' as const),
      value: fc.constantFrom(-1, 1.5, 2 ** 64, '7', null, [], { n: 1 }),
    }),
    fc.record({ kind: fc.constant('garbage' as const), parts: fc.array(fc.uint8Array({ maxLength: 64 }), { minLength: 1, maxLength: 6 }) }),
  );
};

/** Applies a mutation to a good message of `header`. */
export const mutate = (parts: Buffer[], header: EncodedDataHeader, m: Mutation): Buffer[] => {
  const out = parts.map((p) => Buffer.from(p));
  const at = (i: number): number => i % out.length;
  switch (m.kind) {
    case 'truncate': {
      const i = at(m.part);
      out[i] = out[i]!.subarray(0, Math.min(m.keep, Math.max(0, out[i]!.length - 1)));
      return out;
    }
    case 'flipBit': {
      const p = out[at(m.part)]!;
      if (p.length > 0) p[m.byte % p.length]! ^= 1 << m.bit;
      return out;
    }
    case 'dropPart':
      // A message of no parts is no message: ZeroMQ sends nothing for it.
      if (out.length > 1) out.splice(at(m.part), 1);
      return out;
    case 'extraPart':
      out.splice(at(m.at), 0, Buffer.from(m.bytes));
      return out;
    case 'hashWithoutHeader': {
      const x = withMain(out, (main) => (main.hash = m.hash));
      x[1] = Buffer.alloc(0);
      return x;
    }
    case 'hugeShape':
      return claimingHeader(out, header, m.channel % header.channels.length, m.shape);
    case 'lyingSizePrefix': {
      // lz4 values start with their decompressed size (4 bytes big-endian); bitshuffle ones with 8.
      const index = m.channel % header.channels.length;
      const value = out[2 + 2 * index]!;
      const compression = header.channels[index]!.compression;
      if (compression === 'lz4' && value.length >= 4) value.writeUInt32BE(m.size >>> 0, 0);
      else if (compression === 'bitshuffle_lz4' && value.length >= 8) value.writeBigUInt64BE(BigInt(m.size) * 2n ** 8n, 0);
      else return claimingHeader(out, header, index, [m.size]);
      return out;
    }
    case 'invalidJson': {
      if (m.part === 1) {
        const bytes = Buffer.from(m.text);
        const x = withMain(out, (main) => {
          main.hash = md5(bytes);
          delete main.dh_compression;
        });
        x[1] = bytes;
        return x;
      }
      out[0] = Buffer.from(m.text);
      return out;
    }
    case 'wrongPulseId':
      return withMain(out, (main) => (main.pulse_id = m.value));
    case 'garbage':
      return m.parts.map((p) => Buffer.from(p));
  }
};
