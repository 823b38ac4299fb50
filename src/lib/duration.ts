// Durations as users type them on the command line: Go-style ("90s", "5m", "1m30s", "500ms")
// or bare seconds ("30"), as kubectl reads --request-timeout and `mesh check` reads --wait.
import {UsageError} from './errors.js'

const UNIT_MS: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000}
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/y

export interface DurationRule {
  /** The flag, for messages: `--wait`. */
  flag: string
  /** Longest accepted, in ms; its text for the message (`24h`). */
  max?: {ms: number; text: string}
  /** Error code of a refusal. */
  code?: string
  /** The example in the hint, e.g. `mesh check --wait 5m`. */
  example: string
}

/** Milliseconds, or a usage error (exit 2) naming the flag, the value and an example. */
export function parseDurationFlag(value: string, rule: DurationRule): number {
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
    if (text === '' || text.length > 32 || matched !== text.length) {
      throw new UsageError(`${rule.flag} ${JSON.stringify(value.slice(0, 32))} is not a duration`, {
        code: rule.code ?? 'MESH_USAGE',
        suggestions: [`Pass a duration such as 30s, 5m or 1m30s: \`${rule.example}\`.`],
      })
    }
  }
  if (rule.max && ms > rule.max.ms) {
    throw new UsageError(`${rule.flag} ${value} is longer than ${rule.max.text}`, {code: rule.code ?? 'MESH_USAGE', suggestions: [`Pass a shorter duration: \`${rule.example}\`.`]})
  }
  return Math.round(ms)
}

/** 30000 -> "30s", 90000 -> "1m30s", 1500 -> "1.5s", 250 -> "250ms". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`
  const h = Math.floor(ms / 3_600_000)
  const m = Math.floor((ms % 3_600_000) / 60_000)
  const s = (ms % 60_000) / 1000
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`
}

/** kubectl's default is no limit; mesh waits this long for each answer unless told otherwise. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000

/** `--request-timeout`: 0 means no limit (as in kubectl). */
export function parseRequestTimeout(value: string): number {
  return parseDurationFlag(value, {
    flag: '--request-timeout',
    code: 'MESH_REQUEST_TIMEOUT',
    max: {ms: 24 * 3_600_000, text: '24h'},
    example: 'mesh stat deploy --request-timeout 10s',
  })
}

/** How a deadline reads in messages: "30s (--request-timeout)". */
export function describeTimeout(ms: number): string {
  return `${formatDuration(ms)} (--request-timeout)`
}
