/** Small statistics and formatting helpers of the bench. */

export const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

export const mean = (xs: readonly number[]): number => (xs.length === 0 ? NaN : sum(xs) / xs.length);

/** The q-quantile (0..1) by the nearest-rank method. */
export const quantile = (xs: readonly number[], q: number): number => {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
};

/** The largest of many numbers (a spread into Math.max overflows the stack past ~100,000). */
export const largest = (xs: readonly number[]): number => xs.reduce((a, b) => (b > a ? b : a), -Infinity);

export const median = (xs: readonly number[]): number => quantile(xs, 0.5);

/**
 * The median of the ratios of runs paired by index (a[i] / b[i], each pair run back to back):
 * steadier than a ratio of medians when the machine's load drifts during the bench.
 */
export const pairedRatio = (a: readonly number[], b: readonly number[]): number =>
  median(a.map((x, i) => x / b[i]!).filter((r) => Number.isFinite(r)));

/** Runs `work` with at most `limit` of them in flight, over `items`. */
export const pool = async <T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> => {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) await work(items[i]!, i);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
};

/** A number with thousands separators and `digits` decimals. */
export const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : String(n);

/** Milliseconds with precision that suits their size. */
export const fmtMs = (ms: number): string => `${fmt(ms, ms < 1 ? 3 : ms < 10 ? 2 : 1)} ms`;

export const fmtMB = (bytes: number): string => `${fmt(bytes / (1024 * 1024), 1)} MB`;

/** Forces full garbage collections (needs --expose-gc) and returns the heap in use. */
export const settledHeap = async (): Promise<number> => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('global.gc is missing: run node with --expose-gc');
  for (let i = 0; i < 4; i++) {
    gc();
    // Let finalizers and weak callbacks run between collections.
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
};

/** Renders rows as a plain text table with a header and a rule under it. */
export const textTable = (header: readonly string[], rows: readonly (readonly string[])[]): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join(' | ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-+-'), ...rows.map(line)].join('\n');
};
