// Durations of the stat, top, tap and dashboard windows: parsed as every flag's (src/lib/duration.ts),
// printed in their largest whole unit (90000 -> 90s, 60000 -> 1m).
import {parseDurationFlag} from '../lib/duration.js'

/**
 * Milliseconds of a duration given to `flag` (30s, 1m, 1m30s, 500ms, or bare seconds), or a
 * usage error naming the flag: the one parser of src/lib/duration.ts.
 */
export function parseDuration(input: string, flag = '--window'): number {
  return parseDurationFlag(input, {flag, example: `${flag} 1m`})
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  if (ms % 1000 === 0) return `${ms / 1000}s`
  return `${ms}ms`
}
