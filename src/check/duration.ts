// --wait values: Go-style durations ("90s", "5m", "1m30s", "500ms") or bare seconds ("30").
import {UsageError} from '../lib/errors.js'

const UNIT_MS: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000}
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/y
/** Longest --wait accepted: one day. */
export const MAX_WAIT_MS = 24 * 3_600_000

export function parseDuration(value: string, flag = '--wait'): number {
  const text = value.trim()
  let ms: number
  if (/^\d+(\.\d+)?$/.test(text)) ms = Number(text) * 1000
  else {
    ms = 0
    PART.lastIndex = 0
    let matched = 0
    let m: RegExpExecArray | null
    while ((m = PART.exec(text)) !== null) {
      ms += Number(m[1]) * UNIT_MS[m[2]!]!
      matched = PART.lastIndex
    }
    if (text === '' || matched !== text.length) {
      throw new UsageError(`${flag} ${JSON.stringify(value)} is not a duration`, {
        code: 'MESH_CHECK_DURATION',
        suggestions: [`Pass a duration such as 30s, 5m or 1m30s: \`mesh check ${flag} 5m\`.`],
      })
    }
  }
  if (ms > MAX_WAIT_MS) {
    throw new UsageError(`${flag} ${value} is longer than 24h`, {code: 'MESH_CHECK_DURATION', suggestions: ['Pass a shorter duration, e.g. 5m.']})
  }
  return Math.round(ms)
}
