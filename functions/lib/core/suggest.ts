/**
 * "Did you mean" hints for mistyped configuration keys and values. Written here rather than taken from a
 * library: the common edit-distance packages count a swap of two letters (`tsl` for `tls`) as two edits, and a
 * swap is the most common typo; this is the optimal-string-alignment distance, in which it is one.
 */

/** Insertions, deletions, substitutions and swaps of two adjacent characters needed to turn `a` into `b`. */
export const editDistance = (a: string, b: string): number => {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2][j - 2] + 1);
      rows[i][j] = d;
    }
  }
  return rows[a.length][b.length];
};

/**
 * The candidate a mistyped word most likely meant: the closest (case ignored), if it is close enough to be a typo
 * rather than another word. The bound grows with the length (one edit for short words, about a third of the
 * letters for long ones), so `enabled` finds `enable` and `region` never "means" `kind`.
 */
export const closestMatch = (word: string, candidates: readonly string[]): string | undefined => {
  const w = word.toLowerCase();
  let best: { candidate: string; d: number } | undefined;
  for (const candidate of candidates) {
    const d = editDistance(w, candidate.toLowerCase());
    if (!best || d < best.d) best = { candidate, d };
  }
  if (!best || best.candidate === word) return undefined;
  return best.d <= Math.max(1, Math.floor(Math.max(w.length, best.candidate.length) / 3)) ? best.candidate : undefined;
};
