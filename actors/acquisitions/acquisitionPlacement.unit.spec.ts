import { describe, expect, it } from 'vitest';
import { mayOwnAcquisition, placementFactsOf } from './acquisitionPlacement.js';

const sub = (address: string) => ({ address, mode: 'sub' as const });
const pull = (address: string) => ({ address, mode: 'pull' as const });
const S = 'tcp://sender:9999';

describe('placementFactsOf', () => {
  it('reads the node asked for and the stream of the last writer', () => {
    expect(
      placementFactsOf([
        { type: 'requested', data: { node: 'b' } },
        { type: 'started', data: { firstPulseId: 1, writer: { node: 'b', stream: sub(S) } } },
        { type: 'progress', data: {} },
        { type: 'started', data: { firstPulseId: 1, writer: { node: 'c', stream: sub('tcp://other:1') } } },
      ]),
    ).toEqual({ node: 'b', stream: sub('tcp://other:1') });
  });

  it('gives nulls for histories recorded before either was', () => {
    expect(placementFactsOf([{ type: 'requested', data: {} }, { type: 'started', data: { firstPulseId: 1 } }])).toEqual({ node: null, stream: null });
  });
});

describe('mayOwnAcquisition', () => {
  it('before any owner went: only a process on the node named, any when none is', () => {
    expect(mayOwnAcquisition({ node: 'b', stream: null }, { node: 'b', stream: pull(S) }, undefined).ok).toBe(true);
    const refused = mayOwnAcquisition({ node: 'b', stream: null }, { node: 'a', stream: sub(S) }, undefined);
    expect(refused).toEqual({ ok: false, why: 'it names node b; this process is on a' });
    expect(mayOwnAcquisition({ node: null, stream: null }, { node: 'a', stream: pull(S) }, undefined).ok).toBe(true);
  });

  it('an owner gone before it opened the file: still the node named', () => {
    expect(mayOwnAcquisition({ node: 'b', stream: null }, { node: 'a', stream: sub(S) }, { node: 'b' }).ok).toBe(false);
    expect(mayOwnAcquisition({ node: 'b', stream: null }, { node: 'b', stream: sub(S) }, { node: 'b' }).ok).toBe(true);
  });

  it('a writer gone: a SUB receiver of the same address on any node, whatever node was named', () => {
    expect(mayOwnAcquisition({ node: 'b', stream: sub(S) }, { node: 'a', stream: sub(S) }, { node: 'b' }).ok).toBe(true);
  });

  it('a writer gone: never a PULL receiver elsewhere, nor another address, nor after a PULL writer', () => {
    const pulled = mayOwnAcquisition({ node: null, stream: sub(S) }, { node: 'c', stream: pull(S) }, { node: 'b' });
    expect(pulled.ok).toBe(false);
    expect(!pulled.ok && pulled.why).toMatch(/only SUB receivers hold the same pulses/);
    expect(mayOwnAcquisition({ node: null, stream: sub(S) }, { node: 'c', stream: sub('tcp://sender:9998') }, { node: 'b' }).ok).toBe(false);
    expect(mayOwnAcquisition({ node: null, stream: pull(S) }, { node: 'c', stream: sub(S) }, { node: 'b' }).ok).toBe(false);
  });

  it("a writer gone: its own node's next process on the same address, in either mode (its restart)", () => {
    expect(mayOwnAcquisition({ node: null, stream: pull(S) }, { node: 'b', stream: pull(S) }, { node: 'b' }).ok).toBe(true);
    expect(mayOwnAcquisition({ node: null, stream: pull(S) }, { node: 'b', stream: pull('tcp://x:1') }, { node: 'b' }).ok).toBe(false);
  });

  it("a writer on its own simulated stream gone: only its node's next process, whatever the simulator's new address", () => {
    const simulated = { address: 'tcp://127.0.0.1:40001', mode: 'pull' as const, simulated: true as const };
    const next = { address: 'tcp://127.0.0.1:40002', mode: 'pull' as const, simulated: true as const };
    expect(mayOwnAcquisition({ node: null, stream: simulated }, { node: 'b', stream: next }, { node: 'b' }).ok).toBe(true);
    expect(mayOwnAcquisition({ node: null, stream: simulated }, { node: 'a', stream: simulated }, { node: 'b' }).ok).toBe(false);
  });
});
