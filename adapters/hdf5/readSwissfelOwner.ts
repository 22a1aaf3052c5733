import { stat } from 'node:fs/promises';
import { readRootStrings } from './readRootStrings.js';
import { swissfelAttrs } from './swissfelLayout.js';
import type { SwissfelFileStats } from './swissfelWriter.js';

/** A finished SwissFEL file as its writer left it: whose it is and what was written. */
export interface PublishedSwissfelFile {
  readonly acquisitionId: string;
  readonly stats: SwissfelFileStats;
  readonly bytes: number;
}

const isStats = (value: unknown): value is SwissfelFileStats => {
  const v = value as Partial<Record<keyof SwissfelFileStats, unknown>> | null;
  const idOrNull = (x: unknown): boolean => x === null || (typeof x === 'number' && Number.isSafeInteger(x) && x >= 0);
  const count = (x: unknown): boolean => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  return typeof v === 'object' && v !== null && idOrNull(v.firstPulseId) && idOrNull(v.lastPulseId) && count(v.rows) && count(v.pulsesWithMessage) && count(v.pulsesMissing);
};

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/**
 * Reads which acquisition a finished file at `path` was written for, and its writer's summary
 * (the root attributes `daqflow_acquisition` and `daqflow_summary`). Undefined when there is no
 * file, when it is not HDF5, or when it lacks either attribute (a file from elsewhere, or from a
 * daqflow before they were written): such a file is never taken for an acquisition's own.
 */
export const readSwissfelOwner = async (path: string): Promise<PublishedSwissfelFile | undefined> => {
  const bytes = await stat(path).then((s) => (s.isFile() ? s.size : undefined), () => undefined);
  if (bytes === undefined) return undefined;
  const attrs = await readRootStrings(path, [swissfelAttrs.acquisition, swissfelAttrs.summary]);
  const acquisitionId = attrs?.[swissfelAttrs.acquisition];
  const stats = parseJson(attrs?.[swissfelAttrs.summary] ?? '');
  return acquisitionId !== undefined && isStats(stats) ? { acquisitionId, stats, bytes } : undefined;
};
