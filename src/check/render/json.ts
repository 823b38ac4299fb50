// `-o json`: the stable document described by src/check/schema.json. Keys are written in a
// fixed order so diffs of saved reports stay readable.
import type {CheckReport} from '../report.js'

export function toJsonDocument(report: CheckReport): CheckReport {
  return {
    success: report.success,
    categories: report.categories.map((c) => ({
      categoryName: c.categoryName,
      checks: c.checks.map((k) => ({id: k.id, description: k.description, hint: k.hint, error: k.error, result: k.result})),
    })),
  }
}

export function renderJson(report: CheckReport): string {
  return JSON.stringify(toJsonDocument(report), null, 2) + '\n'
}
