// Gateway API durations (GEP-2257): one to four parts of 1-5 digits and a unit (h, m, s, ms),
// e.g. `500ms`, `2s`, `1m30s`; `0s` turns a timeout off. mesh bounds them at 24 h (a longer
// timer would overflow Node's 32-bit setTimeout and fire at once).
export const MAX_DURATION_MS = 24 * 3_600_000

const UNIT_MS: Record<string, number> = {h: 3_600_000, m: 60_000, s: 1000, ms: 1}

/** Milliseconds, or NaN when `v` is not a GEP-2257 duration within MAX_DURATION_MS. */
export function parseGatewayDuration(v: string): number {
  if (!/^([0-9]{1,5}(h|ms|m|s)){1,4}$/.test(v)) return NaN
  let ms = 0
  for (const m of v.matchAll(/([0-9]{1,5})(h|ms|m|s)/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!
  return ms <= MAX_DURATION_MS ? ms : NaN
}

/** `1m30s`, `250ms`, `0s`: the shortest GEP-2257 text for `ms`. */
export function formatGatewayDuration(ms: number): string {
  if (ms === 0) return '0s'
  let rest = ms
  let out = ''
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    const n = Math.floor(rest / size)
    if (n > 0) out += `${n}${unit}`
    rest -= n * size
  }
  return out
}
