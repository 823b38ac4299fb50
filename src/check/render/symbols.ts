import type {ChalkInstance} from 'chalk'
import type {CheckResult} from '../types.js'

export const SYMBOL: Record<CheckResult, string> = {success: '√', warning: '‼', error: '×'}

export function symbolFor(result: CheckResult, color: ChalkInstance): string {
  if (result === 'success') return color.green(SYMBOL.success)
  if (result === 'warning') return color.yellow(SYMBOL.warning)
  return color.red(SYMBOL.error)
}
