import type {ChalkInstance} from 'chalk'
import type {CheckReport} from '../report.js'
import {renderJson} from './json.js'
import {renderText} from './table.js'

export const CHECK_OUTPUTS = ['table', 'short', 'json'] as const
export type CheckOutputFormat = (typeof CHECK_OUTPUTS)[number]

export function renderReport(report: CheckReport, format: CheckOutputFormat, color: ChalkInstance): string {
  if (format === 'json') return renderJson(report)
  return renderText(report, {color, onlyProblems: format === 'short'})
}

export {renderJson, toJsonDocument} from './json.js'
export {renderText} from './table.js'
export {SYMBOL} from './symbols.js'
