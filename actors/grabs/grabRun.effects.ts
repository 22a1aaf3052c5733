import type { GrabMode } from './grabRun.events.js';

/**
 * Parameters of the grab run's effects, as the machine requests them. The effects live in
 * `adapters/jobs/grabs/`; every one is idempotent, since a restarted runtime re-issues the effect
 * its actor's state waits on.
 *
 * The run's work folder is `<draftDir>/.daqflow-grab-<run id>/`: one work file per chunk (its
 * samples, and its statistics state with the mode table) and the HDF5 draft.
 */
export interface FetchChunkParams {
  readonly mode: GrabMode;
  readonly index: number;
  readonly attempt: number;
  readonly parameter: string;
  /** Slice bounds, ISO 8601 UTC; samples with from <= t < to. */
  readonly from: string;
  readonly to: string;
  readonly draftDir: string;
}

/** Builds the HDF5 file from the chunks' work files and moves it to the out folder. */
export interface AssembleParams {
  readonly mode: GrabMode;
  readonly parameters: readonly string[];
  readonly start: string;
  readonly stop: string;
  /** Time of the `requested` event: names the file (whole Unix seconds). */
  readonly created: string;
  readonly draftDir: string;
  readonly outDir: string;
  /** Chunks written, 0..chunks-1 (fewer than planned when an events run stopped at the first hit). */
  readonly chunks: number;
  /** Slices per parameter (see `grabPlan.ts`). */
  readonly slices: number;
}

/** Removes the run's work folder (cancelled or failed runs). */
export interface DiscardParams {
  readonly draftDir: string;
}
