// --wait values: Go-style durations ("90s", "5m", "1m30s", "500ms") or bare seconds ("30").
import {parseDurationFlag} from '../lib/duration.js'

/** Longest --wait accepted: one day. */
export const MAX_WAIT_MS = 24 * 3_600_000

export function parseDuration(value: string, flag = '--wait'): number {
  return parseDurationFlag(value, {flag, code: 'MESH_CHECK_DURATION', max: {ms: MAX_WAIT_MS, text: '24h'}, example: `mesh check ${flag} 5m`})
}
