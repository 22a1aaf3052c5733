import { join } from 'node:path';
import fc from 'fast-check';
import * as zmq from 'zeromq';
import { afterEach, describe, expect, it } from 'vitest';
import { DataHeaderCache, decodeMessage, bsreadCompressions } from '../../adapters/bsread/bsreadCodec.js';
import { bsreadTransports, createBsreadReceiver } from '../../adapters/bsread/bsreadReceiver.js';
import { bsreadDecodeReasonList, isBsreadDecodeError } from '../../adapters/bsread/errors.js';
import type { BsreadMessage } from '../../adapters/bsread/bsreadMessage.js';
import type { EncodedDataHeader } from '../../adapters/bsread/bsreadEncoder.js';
import { readCapturedFrames } from '../harness/capturedFrames.js';
import { repoRoot } from '../harness/daqflowProcess.js';
import { fuzzSettings, propertyParameters } from './fuzzSettings.js';
import { goodHeader, goodMessage, mutate, mutation, type Mutation } from './bsreadMutations.js';

/*
 * The bsread socket's promise (docs/acquisitions.md): a message that does not decode is skipped
 * and counted by reason, never fatal, and a header's claims (shapes, element counts, compressed
 * sizes) never decide an allocation beyond the message's own size and the value limit.
 */

const settings = fuzzSettings(200);
const MAX_VALUE_BYTES = 1024 * 1024;
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

const compressionsArb = fc.array(fc.constantFrom(...bsreadCompressions), { minLength: 1, maxLength: 3 });
const header = goodHeader(['none', 'lz4', 'bitshuffle_lz4'], 'none');
const channelCount = header.channels.length;
const sizeOf = (parts: readonly Uint8Array[]): number => parts.reduce((n, p) => n + p.length, 0);

describe('bsread decoding of mutated messages', () => {
  it('every mutation decodes or is refused with a reason; no claim allocates past the message size and the value limit', () => {
    fc.assert(
      fc.property(compressionsArb, fc.constantFrom(...bsreadCompressions), fc.nat({ max: 2 ** 40 }), mutation(channelCount), (cs, hc, pulseId, m) => {
        const h = goodHeader(cs, hc);
        const parts = mutate(goodMessage(h, pulseId), h, m);
        // A cache that already knows the good header: a mutated hash must not borrow it.
        const cache = new DataHeaderCache();
        decodeMessage(goodMessage(h, pulseId), cache);
        const before = process.memoryUsage().arrayBuffers;
        let decoded: BsreadMessage | undefined;
        try {
          decoded = decodeMessage(parts, cache, { maxValueBytes: MAX_VALUE_BYTES });
        } catch (e) {
          if (!isBsreadDecodeError(e)) throw new Error(`${m.kind}: not a BsreadDecodeError: ${String(e)}`, { cause: e });
          expect(bsreadDecodeReasonList).toContain(e.reason);
        }
        const grown = process.memoryUsage().arrayBuffers - before;
        // Decoding may copy the message and decompress up to the limit per value; a claim of 2^40 bytes may not.
        expect(grown, `${m.kind} grew external memory by ${grown} bytes`).toBeLessThan(4 * sizeOf(parts) + 2 * MAX_VALUE_BYTES + 2 ** 20);
        for (const v of decoded?.values.toArray() ?? []) expect(v.bytes?.length ?? 0).toBeLessThanOrEqual(MAX_VALUE_BYTES);
      }),
      propertyParameters(settings, settings.cases * 5),
    );
  });
});

/*
 * The same mutations of messages daqflow did not write: the captures of PSI's Python sender
 * (test/fixtures/bsread: every type, both byte orders, the three compressions, declared channels,
 * missing values). Their data header (as decoded) tells the mutations which channel is which.
 */
describe('bsread decoding of mutated messages of the Python sender (test/fixtures/bsread)', () => {
  const captured = ['none', 'lz4', 'bitshuffle_lz4', 'declared'].flatMap((scenario) =>
    readCapturedFrames(join(repoRoot, 'test', 'fixtures', 'bsread', `${scenario}.frames`)).map((parts) => {
      const decoded = decodeMessage(parts, new DataHeaderCache());
      const header: EncodedDataHeader = { channels: decoded.channels, bytes: parts[1] as Buffer, hash: decoded.hash, compression: 'none' };
      return { scenario, parts, header };
    }),
  );

  it('every mutation decodes or is refused with a reason; no claim allocates past the message size and the value limit', () => {
    expect(captured.length).toBeGreaterThan(10);
    const maxChannels = Math.max(...captured.map((c) => c.header.channels.length));
    let runs = 0;
    let refused = 0;
    fc.assert(
      fc.property(fc.nat(captured.length - 1), mutation(maxChannels), (index, m) => {
        const { scenario, parts: good, header: h } = captured[index]!;
        const parts = mutate(good, h, m);
        const cache = new DataHeaderCache();
        decodeMessage(good, cache);
        const before = process.memoryUsage().arrayBuffers;
        let decoded: BsreadMessage | undefined;
        try {
          decoded = decodeMessage(parts, cache, { maxValueBytes: MAX_VALUE_BYTES });
        } catch (e) {
          if (!isBsreadDecodeError(e)) throw new Error(`${scenario} ${m.kind}: not a BsreadDecodeError: ${String(e)}`, { cause: e });
          expect(bsreadDecodeReasonList).toContain(e.reason);
          refused++;
        }
        runs++;
        const grown = process.memoryUsage().arrayBuffers - before;
        expect(grown, `${scenario} ${m.kind} grew external memory by ${grown} bytes`).toBeLessThan(4 * sizeOf(parts) + 2 * MAX_VALUE_BYTES + 2 ** 20);
        for (const v of decoded?.values.toArray() ?? []) expect(v.bytes?.length ?? 0).toBeLessThanOrEqual(MAX_VALUE_BYTES);
      }),
      propertyParameters(settings, settings.cases * 2),
    );
    console.log(`bsread Python-sender mutations (seed ${settings.seed}): ${runs} cases, ${refused} refused`);
    // The mutations bite: most are refused (a flipped bit inside a value may still decode).
    expect(refused).toBeGreaterThan(runs / 2);
  });
});

describe.each(bsreadTransports)('the bsread socket (%s transport) under mutated messages', (transport) => {
  it('skips and counts every bad message by reason, never stops, and delivers every good pulse', async () => {
    const good = 40;
    const mutations = fc.sample(mutation(channelCount), { seed: settings.seed, numRuns: Math.max(good, Math.min(settings.cases, 400)) });
    const push = new zmq.Push({ sendHighWaterMark: 100_000, linger: 0 });
    await push.bind('tcp://127.0.0.1:*');
    closers.push(async () => push.close());
    const delivered: number[] = [];
    const receiver = createBsreadReceiver({
      address: push.lastEndpoint as string,
      mode: 'pull',
      transport,
      maxValueBytes: MAX_VALUE_BYTES,
      onMessage: (msg) => void delivered.push(msg.pulseId),
    });
    closers.push(() => receiver.close());
    let ended = false;
    void receiver.done.then(() => (ended = true));

    // Good pulses 1000.. with bad messages between them; bad ones that still decode (a flipped
    // bit inside a value) carry pulse ids of their own, so that they cannot pass for a good one.
    const goodIds: number[] = [];
    let sent = 0;
    const perGood = Math.ceil(mutations.length / good);
    for (let k = 0; k < good; k++) {
      const id = 1_000 + k;
      await push.send(goodMessage(header, id));
      goodIds.push(id);
      sent++;
      for (const m of mutations.slice(k * perGood, (k + 1) * perGood) as Mutation[]) {
        await push.send(mutate(goodMessage(header, 1_000_000 + sent), header, m));
        sent++;
      }
    }
    const deadline = Date.now() + 20_000;
    while (receiver.counters().received < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const c = receiver.counters();
    expect(c.received).toBe(sent);
    expect(ended, 'the receive loop is still running').toBe(false);
    expect(delivered.filter((id) => id < 1_000_000)).toEqual(goodIds);
    expect(c.delivered + c.malformed).toBe(c.received);
    expect(Object.values(c.byReason).reduce((a, b) => a + b, 0)).toBe(c.malformed);
    expect(c.malformed).toBeGreaterThan(mutations.length / 2);
    console.log(`bsread ${transport} fuzz (seed ${settings.seed}): ${sent} sent, ${c.malformed} skipped`, c.byReason);
  }, 60_000);
});
