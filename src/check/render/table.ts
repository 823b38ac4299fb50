// `-o table`: every category with its checks, √ ‼ ×, the error and the hint under anything
// that is not green, and a final verdict. `-o short` (onlyProblems) keeps what is not green.
import type {ChalkInstance} from 'chalk'
import type {CategoryOutcome, CheckOutcome, CheckReport} from '../report.js'
import {SYMBOL, symbolFor} from './symbols.js'

export interface TextOptions {
  color: ChalkInstance
  /** `-o short`: only the checks that are not green (and the categories holding them). */
  onlyProblems?: boolean
}

export function renderText(report: CheckReport, options: TextOptions): string {
  const {color} = options
  const blocks: string[] = []
  for (const category of report.categories) {
    const checks = options.onlyProblems ? category.checks.filter((c) => c.result !== 'success') : category.checks
    if (checks.length === 0) continue
    blocks.push(renderCategory(category, checks, color))
  }
  blocks.push(verdict(report, color))
  return blocks.join('\n')
}

function renderCategory(category: CategoryOutcome, checks: CheckOutcome[], color: ChalkInstance): string {
  const lines = [color.bold(category.categoryName), '-'.repeat(category.categoryName.length)]
  for (const check of checks) {
    lines.push(`${symbolFor(check.result, color)} ${check.description}`)
    if (check.result === 'success') continue
    for (const line of check.error.split('\n')) lines.push(`    ${line}`)
    lines.push(`    see ${check.id}: ${check.hint}`)
  }
  return lines.join('\n') + '\n'
}

function verdict(report: CheckReport, color: ChalkInstance): string {
  const warnings = report.categories.some((c) => c.checks.some((k) => k.result === 'warning'))
  const symbol = report.success ? (warnings ? color.yellow(SYMBOL.warning) : color.green(SYMBOL.success)) : color.red(SYMBOL.error)
  return `Status check results are ${symbol}\n`
}
