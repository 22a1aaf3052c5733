import type { Parameters as FcParameters } from 'fast-check';

/**
 * How many generated cases each door of the fuzz tier runs, and with which seed. `npm test` runs
 * a few dozen per door; `npm run fuzz -- --cases N` (or DAQFLOW_FUZZ_CASES) runs more, and
 * DAQFLOW_FUZZ_SEED replays a failure: fast-check prints the seed (and the shrunk path) of
 * every counterexample it reports.
 */
export interface FuzzSettings {
  readonly seed: number;
  readonly cases: number;
}

const positiveInt = (name: string, text: string | undefined): number | undefined => {
  if (text === undefined || text.trim() === '') return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error(`${name}=${text} is not an integer`);
  return n;
};

/** Settings from the environment; `defaultCases` is a door's share of `npm test`. */
export const fuzzSettings = (defaultCases: number): FuzzSettings => {
  const seed = positiveInt('DAQFLOW_FUZZ_SEED', process.env.DAQFLOW_FUZZ_SEED) ?? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
  const cases = positiveInt('DAQFLOW_FUZZ_CASES', process.env.DAQFLOW_FUZZ_CASES) ?? defaultCases;
  if (cases < 1) throw new Error(`DAQFLOW_FUZZ_CASES=${cases} must be at least 1`);
  return { seed, cases };
};

/** fast-check parameters for one property: the seed, the cases, and no time-based interruption. */
export const propertyParameters = <T>(settings: FuzzSettings, cases = settings.cases): FcParameters<T> => ({
  seed: settings.seed,
  numRuns: cases,
  // Shrinking re-runs cases against a live process; a few steps are enough to make a report readable.
  endOnFailure: false,
  verbose: 1,
});
