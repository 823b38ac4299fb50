// The report a run of checks produces: the shape of `mesh check -o json` (schema.json).
import type {CheckResult} from './types.js'

export interface CheckOutcome {
  id: string
  description: string
  hint: string
  /** Why it failed; empty when it passed. */
  error: string
  result: CheckResult
}

export interface CategoryOutcome {
  categoryName: string
  checks: CheckOutcome[]
}

export interface CheckReport {
  /** False when any check that is not a warning failed. */
  success: boolean
  categories: CategoryOutcome[]
}

export function reportSuccess(categories: CategoryOutcome[]): boolean {
  return categories.every((c) => c.checks.every((k) => k.result !== 'error'))
}

/** Exit code for a report: 1 when any non-warning check failed, else 0. */
export function exitCodeFor(report: CheckReport): 0 | 1 {
  return report.success ? 0 : 1
}
