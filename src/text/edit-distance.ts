/**
 * Levenshtein distance: the fewest single-character insertions, deletions and substitutions from `a` to `b`. With
 * `transpositions`, swapping two adjacent characters counts as one edit too (optimal string alignment), so `thrid`
 * is one slip from `third`, not two.
 *
 * @example
 * editDistance('nmae', 'name'); // 2
 * editDistance('nmae', 'name', { transpositions: true }); // 1
 */
export function editDistance(a: string, b: string, options: { transpositions?: boolean } = {}): number {
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      if (options.transpositions === true && i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        current[j] = Math.min(current[j]!, before[j - 2]! + 1);
    }
    before = previous;
    previous = current;
  }
  return previous[b.length]!;
}
