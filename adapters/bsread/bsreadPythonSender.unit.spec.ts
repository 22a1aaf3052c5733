import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCapturedFrames } from '../../test/harness/capturedFrames.js';
import { DataHeaderCache, decodeMessage } from './bsreadCodec.js';
import type { BsreadType } from './bsreadMessage.js';

// Messages sent by PSI's bsread Python package (its own Sender, over ZeroMQ), captured by
// test/fixtures/bsread/make_fixtures.py with the values it asked the sender to send. The decoder
// and the simulator share daqflow's encoder, so only an independent sender can show that daqflow
// reads what the facility's senders write: every type, both byte orders, the three compressions,
// compressed data headers, missing values, protocol defaults.

const folder = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'bsread');

interface ExpectedChannel {
  readonly name: string;
  readonly type: BsreadType;
  readonly shape: number[];
  readonly encoding: 'little' | 'big';
  readonly compression: string;
  readonly modulo: number;
  readonly offset: number;
  readonly le_hex: string | null;
  readonly values: Array<number | string | boolean> | string | null;
  readonly timestamp: { sec: number; ns: number } | null;
}

interface ExpectedMessage {
  readonly pulse_id: number;
  readonly global_timestamp: { sec: number; ns: number };
  readonly dh_compression: string;
  readonly channels: ExpectedChannel[];
}

/** Little-endian element bytes as the JSON values the script wrote (integers as decimal strings). */
const valuesOf = (type: BsreadType, bytes: Uint8Array): Array<number | string | boolean> | string => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = { bool: 1, int8: 1, uint8: 1, int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8, float32: 4, float64: 8, string: 1 }[type];
  if (type === 'string') return Buffer.from(bytes).toString('utf8');
  const out: Array<number | string | boolean> = [];
  for (let at = 0; at < bytes.length; at += size) {
    const float = (v: number): number | string => (Number.isNaN(v) ? 'NaN' : v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : v);
    switch (type) {
      case 'bool': out.push(view.getUint8(at) !== 0); break;
      case 'int8': out.push(String(view.getInt8(at))); break;
      case 'uint8': out.push(String(view.getUint8(at))); break;
      case 'int16': out.push(String(view.getInt16(at, true))); break;
      case 'uint16': out.push(String(view.getUint16(at, true))); break;
      case 'int32': out.push(String(view.getInt32(at, true))); break;
      case 'uint32': out.push(String(view.getUint32(at, true))); break;
      case 'int64': out.push(view.getBigInt64(at, true).toString()); break;
      case 'uint64': out.push(view.getBigUint64(at, true).toString()); break;
      case 'float32': out.push(float(view.getFloat32(at, true))); break;
      case 'float64': out.push(float(view.getFloat64(at, true))); break;
    }
  }
  return out;
};

const scenarios = ['none', 'bitshuffle_lz4', 'lz4', 'declared'];

describe("decodeMessage reads what bsread's Python Sender sends", () => {
  for (const scenario of scenarios) {
    it(`${scenario}: every message, channel by channel, as the sender was asked to send it`, () => {
      const messages = readCapturedFrames(join(folder, `${scenario}.frames`));
      const expected = (JSON.parse(readFileSync(join(folder, `${scenario}.expected.json`), 'utf8')) as { messages: ExpectedMessage[] })
        .messages;
      expect(messages).toHaveLength(expected.length);
      const cache = new DataHeaderCache();
      messages.forEach((parts, m) => {
        const want = expected[m]!;
        const main = JSON.parse(parts[0]!.toString('utf8')) as { dh_compression?: string };
        expect(main.dh_compression ?? 'none', `message ${m}: data header compression`).toBe(want.dh_compression);
        const got = decodeMessage(parts, cache);
        expect(got.pulseId).toBe(want.pulse_id);
        expect(got.globalTimestamp).toEqual(want.global_timestamp);
        expect(got.channels.map((c) => ({ ...c, shape: [...c.shape] }))).toEqual(
          want.channels.map(({ name, type, shape, encoding, compression, modulo, offset }) => ({ name, type, shape, encoding, compression, modulo, offset })),
        );
        want.channels.forEach((channel, i) => {
          const at = `message ${m}, ${channel.name}`;
          const value = got.values.at(i);
          expect(value.bytes === null ? null : Buffer.from(value.bytes).toString('hex'), at).toBe(channel.le_hex);
          if (value.bytes !== null && channel.values !== null) expect(valuesOf(channel.type, value.bytes), at).toEqual(channel.values);
          expect(value.timestamp, `${at}: timestamp`).toEqual(channel.timestamp);
        });
      });
    });
  }

  it('the captures hold what the specs above claim: every type, both byte orders, each compression', () => {
    const seen = new Set<string>();
    for (const scenario of scenarios) {
      const expected = (JSON.parse(readFileSync(join(folder, `${scenario}.expected.json`), 'utf8')) as { messages: ExpectedMessage[] })
        .messages;
      for (const message of expected) {
        seen.add(`dh:${message.dh_compression}`);
        for (const c of message.channels) {
          seen.add(`${c.type}/${c.encoding}/${c.compression}`);
          if (c.le_hex === null) seen.add('no value');
        }
      }
    }
    const types: BsreadType[] = ['bool', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'string'];
    for (const type of types) {
      for (const compression of ['none', 'bitshuffle_lz4', 'lz4']) {
        expect(seen, `${type} little ${compression}`).toContain(`${type}/little/${compression}`);
      }
      expect([...seen].some((s) => s.startsWith(`${type}/big/`)), `${type} big`).toBe(true);
    }
    for (const s of ['dh:none', 'dh:bitshuffle_lz4', 'dh:lz4', 'no value']) expect(seen).toContain(s);
  });
});
