// Durations as users type them: 30s, 1m, 1m30s, 2h, 500ms.
import {UsageError} from '../lib/errors.js'

const UNIT: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000}

export function parseDuration(input: string, flag = '--window'): number {
  const text = input.trim()
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy
  let total = 0
  let m: RegExpExecArray | null
  let pos = 0
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * UNIT[m[2]]
    pos = re.lastIndex
  }
  if (text === '' || pos !== text.length || text.length > 32) {
    throw new UsageError(`invalid duration ${JSON.stringify(input.slice(0, 32))} for ${flag}: expected a number with a unit, such as 30s, 1m or 1h`, {
      suggestions: [`Pass ${flag} 1m (units: ms, s, m, h).`],
    })
  }
  return total
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  if (ms % 1000 === 0) return `${ms / 1000}s`
  return `${ms}ms`
}
