/**
 * How a grab run's window is cut into chunks. A chunk is one parameter over one slice of the
 * window; chunks are numbered parameter by parameter, slice by slice, so chunk `index` is slice
 * `index % slices` of parameter `floor(index / slices)`. Every chunk is one event when done, and a
 * resumed run starts at the first chunk without one.
 */
export interface GrabPlan {
  readonly parameters: readonly string[];
  /** Window bounds, ms since the epoch. */
  readonly startMs: number;
  readonly stopMs: number;
  readonly chunkSeconds: number;
}

export interface PlannedChunk {
  readonly index: number;
  readonly parameter: string;
  /** Slice number within the parameter. */
  readonly slice: number;
  readonly from: string;
  readonly to: string;
}

/** Number of slices of the window: the last one may be shorter. */
export const slicesOf = (plan: GrabPlan): number =>
  Math.max(1, Math.ceil((plan.stopMs - plan.startMs) / (plan.chunkSeconds * 1000)));

export const chunkCountOf = (plan: GrabPlan): number => slicesOf(plan) * plan.parameters.length;

export const chunkOf = (plan: GrabPlan, index: number): PlannedChunk => {
  const slices = slicesOf(plan);
  const parameter = plan.parameters[Math.floor(index / slices)];
  if (parameter === undefined || index < 0 || !Number.isInteger(index)) {
    throw new RangeError(`chunk ${index} is outside the plan (${chunkCountOf(plan)} chunks)`);
  }
  const slice = index % slices;
  const fromMs = plan.startMs + slice * plan.chunkSeconds * 1000;
  const toMs = Math.min(plan.stopMs, fromMs + plan.chunkSeconds * 1000);
  return {
    index,
    parameter,
    slice,
    from: new Date(fromMs).toISOString(),
    to: new Date(toMs).toISOString(),
  };
};

/** True when `index` is the last slice of its parameter. */
export const isLastSliceOf = (plan: GrabPlan, index: number): boolean => index % slicesOf(plan) === slicesOf(plan) - 1;
