/** Renders rows as a plain text table with a header, columns padded to fit. */
export const table = (headers: readonly string[], rows: readonly (readonly string[])[]): string => {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
};

/** A short one-line rendering of a JSON object, cut at `max` characters. */
export const abridged = (value: unknown, max = 60): string => {
  const text = JSON.stringify(value) ?? '';
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
};

/** A progress bar like `[#####-----] 50%`. */
export const progressBar = (done: number, total: number, width = 30): string => {
  const ratio = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(ratio * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.round(ratio * 100)).padStart(3)}%`;
};

/** Parses a time given on the command line: ISO 8601, or a relative `-5m` / `-2h` / `-1d`. */
export const parseTime = (text: string, now = new Date()): Date | undefined => {
  const relative = /^-(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(text.trim());
  if (relative) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now.getTime() - Number(relative[1]) * unit);
  }
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : new Date(ms);
};

/** `text` in red on a terminal (`tty`), unless NO_COLOR is set; as it is otherwise. */
export const red = (text: string, tty: boolean): string => (tty && !process.env.NO_COLOR ? `\u001b[31m${text}\u001b[39m` : text);

/** Lost pulses in a line: `12 lost (100..105, 200..205)`, or a failure's stretch `lost 100..105`. */
export const lostPulsesText = (lost: { from: number; to: number; count?: number; ranges?: readonly { from: number; to: number }[] }, maxRanges = 5): string => {
  if (lost.count === undefined || lost.ranges === undefined) return `lost ${lost.from}..${lost.to}`;
  const shown = lost.ranges.slice(0, maxRanges).map((r) => (r.from === r.to ? String(r.from) : `${r.from}..${r.to}`));
  const more = lost.ranges.length > maxRanges ? `, ${lost.ranges.length - maxRanges} more` : '';
  return `${lost.count} lost (${shown.join(', ')}${more})`;
};
