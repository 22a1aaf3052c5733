import type { BsreadStreamRef } from './acquisition.events.js';

/** What an acquisition's events say about where it may run. */
export interface AcquisitionPlacementFacts {
  /** The node the request named; null: any process with the acquisitions role. */
  readonly node: string | null;
  /** The stream of the process that opened the file last; null before any did (or in old events). */
  readonly stream: BsreadStreamRef | null;
}

/** The process asking whether it may own the acquisition. */
export interface PlacementCandidate {
  readonly node: string;
  readonly stream: BsreadStreamRef;
}

export type PlacementVerdict = { readonly ok: true } | { readonly ok: false; readonly why: string };

/** The facts an acquisition's recorded events give, in order (`requested` first). */
export const placementFactsOf = (events: ReadonlyArray<{ readonly type: string; readonly data: unknown }>): AcquisitionPlacementFacts => {
  let node: string | null = null;
  let stream: BsreadStreamRef | null = null;
  for (const event of events) {
    const data = event.data as { node?: string; writer?: { stream?: BsreadStreamRef } } | null;
    if (event.type === 'requested') node = data?.node ?? null;
    if (event.type === 'started' && data?.writer?.stream) stream = data.writer.stream;
  }
  return { node, stream };
};

/**
 * Whether `candidate` may own an acquisition (docs/architecture.md, "Processes"): `from` is the
 * owner that is gone, undefined when nobody has owned it yet.
 *
 * - Nobody owned it, or it had not opened its file when its owner went: a process on the node it
 *   named (any, when it named none). Nothing was written, so nothing is lost by waiting for one.
 * - Its writer is gone: a process that receives the same stream address, either in SUB mode when
 *   the writer did too (every SUB receiver gets every pulse; PUSH/PULL receivers share them out,
 *   so no other holds the writer's), or on the writer's own node (its restart: the buffer it held
 *   is gone with it, and the restart semantics fail the acquisition with PULSES_LOST when the
 *   pulses are needed). The node named no longer binds: its buffer died with the writer.
 *   Addresses are compared as written. A writer's simulated stream (no `DAQFLOW_BSREAD_STREAM`)
 *   is its own, on an address of the moment: only its node's next process takes it over.
 */
export const mayOwnAcquisition = (
  facts: AcquisitionPlacementFacts,
  candidate: PlacementCandidate,
  from: { readonly node: string } | undefined,
): PlacementVerdict => {
  if (from === undefined || facts.stream === null) {
    if (facts.node === null || facts.node === candidate.node) return { ok: true };
    return { ok: false, why: `it names node ${facts.node}; this process is on ${candidate.node}` };
  }
  const wrote = facts.stream;
  if (wrote.simulated === true) {
    if (candidate.node === from.node) return { ok: true };
    return { ok: false, why: `its writer on ${from.node} read its own simulated stream, which no other process receives` };
  }
  if (candidate.stream.address !== wrote.address) {
    return { ok: false, why: `its writer read ${wrote.address}; this process reads ${candidate.stream.address}` };
  }
  if (candidate.node === from.node) return { ok: true };
  if (wrote.mode === 'sub' && candidate.stream.mode === 'sub') return { ok: true };
  return {
    ok: false,
    why: `its writer on ${from.node} read ${wrote.address} in ${wrote.mode.toUpperCase()} mode and this process in ${candidate.stream.mode.toUpperCase()} mode: only SUB receivers hold the same pulses`,
  };
};
