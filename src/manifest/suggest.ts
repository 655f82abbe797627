/** "Did you mean": the closest of a few candidate words, if it is close enough. */

/** Levenshtein distance, case-insensitive (short words only: O(a*b)). */
function distance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(
        Math.min(
          (prev[j] as number) + 1,
          (cur[j - 1] as number) + 1,
          (prev[j - 1] as number) + cost,
        ),
      );
    }
    prev = cur;
  }
  return prev[b.length] as number;
}

/**
 * The candidate closest to `word`, when at most 2 edits away (1 for words of up to 4
 * characters), or one that only differs in case; undefined otherwise.
 */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  if (word.length > 64) return undefined;
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    if (c === word) continue;
    const d = distance(word, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  const limit = word.length <= 4 ? 1 : 2;
  return bestD <= limit ? best : undefined;
}
