// A suggestion for a mistyped key or name: used wherever input is checked against known names.

/** Optimal string alignment distance: a swapped pair of letters counts as one edit. */
export const editDistance = (a: string, b: string): number => {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => rows[i]?.[j] ?? 0;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      rows[i]![j] = best;
    }
  }
  return at(a.length, b.length);
};

/** The candidate `word` was most likely meant to be, if one is close enough to be a typo. */
export const didYouMean = (word: string, candidates: readonly string[]): string | undefined => {
  const sameLetters = candidates.find((c) => c.toLowerCase() === word.toLowerCase());
  if (sameLetters !== undefined) return sameLetters;
  // A key cut short (`jobTimeout` for `jobTimeoutSeconds`) is far by edits but plainly meant.
  const lower = word.toLowerCase();
  const extended = candidates.filter((c) => lower.length >= 4 && c.toLowerCase().startsWith(lower));
  if (extended.length === 1) return extended[0];
  // Up to a third of the word may be wrong, at least one letter, at most three.
  const allowed = Math.min(3, Math.max(1, Math.floor(word.length / 3)));
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance <= allowed && (best === undefined || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
};
