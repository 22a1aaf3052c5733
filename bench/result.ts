/** One line of the bench's table, with the numbers behind it for the JSON output. */
export interface BenchRow {
  readonly key: string;
  readonly measurement: string;
  readonly daqflow: number | null;
  readonly baseline: number | null;
  /** daqflow / baseline. */
  readonly ratio: number | null;
  readonly unit: string;
  /** What the baseline is, shown beside its figure. */
  readonly baselineLabel: string;
  /** The target as text, e.g. ">= 0.8 (ratio)". */
  readonly target: string;
  /** PASS or MISS against the target; INFO when the row has no target of its own. */
  readonly result: 'PASS' | 'MISS' | 'INFO';
}

/** What a measurement hands back: its rows and the raw figures behind them. */
export interface Measured {
  readonly rows: BenchRow[];
  readonly details: Record<string, unknown>;
  /** Short lines printed under the table: where the time or memory goes. */
  readonly notes?: readonly string[];
}

/** Writes a progress line to stderr (stdout carries the report only). */
export type Log = (line: string) => void;
