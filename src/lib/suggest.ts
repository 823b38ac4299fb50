// "Did you mean ...?": the candidates closest to what the user typed, for unknown commands,
// flags and keys.

/** Levenshtein distance. Words here are short (commands, flags, keys). */
export function distance(a: string, b: string): number {
  let prev = Array.from({length: b.length + 1}, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = cur
  }
  return prev[b.length]!
}

/**
 * The candidates nearest to `word` (case-insensitive), within `max` edits; a candidate that
 * `word` is a prefix of (`dem` -> `demo`) counts as near too.
 */
export function closest(word: string, candidates: Iterable<string>, max = 2): string[] {
  const w = word.toLowerCase()
  const scored: [string, number][] = []
  for (const c of new Set(candidates)) {
    const d = distance(w, c.toLowerCase())
    if (d <= max || (w.length >= 2 && c.toLowerCase().startsWith(w))) scored.push([c, d])
  }
  scored.sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]))
  // Only the nearest: `unistall` is uninstall, not install too.
  return scored.filter(([, d]) => d === scored[0]![1]).map(([c]) => c)
}
