import {readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'
import {categoriesFor} from '../../src/check/plan.js'

const doc = readFileSync(new URL('../../docs/architecture/check.md', import.meta.url), 'utf8')

describe('check registry', () => {
  const checks = (['pre', 'proxy'] as const).flatMap((m) => categoriesFor(m).flatMap((c) => c.checks))

  it('ids are unique per check, MESH and four digits', () => {
    const byId = new Map<string, string>()
    for (const c of checks) {
      expect(c.id).toMatch(/^MESH\d{4}$/)
      const seen = byId.get(c.id)
      if (seen !== undefined) expect(seen).toBe(c.description)
      byId.set(c.id, c.description)
    }
    const descriptions = [...byId.values()]
    expect(new Set(descriptions).size).toBe(descriptions.length)
  })

  it('every check has a hint, and none is both fatal and a warning', () => {
    for (const c of checks) {
      expect(c.hint.length, c.id).toBeGreaterThan(10)
      expect(Boolean(c.fatal && c.warning), c.id).toBe(false)
    }
  })

  it('every id is documented in docs/architecture/check.md', () => {
    const documented = new Set<string>()
    for (const m of doc.matchAll(/MESH(\d{4})(?:-MESH(\d{4}))?/g)) {
      const from = Number(m[1])
      const to = m[2] ? Number(m[2]) : from
      for (let i = from; i <= to; i++) documented.add(`MESH${i}`)
    }
    for (const c of checks) expect(documented.has(c.id), c.id).toBe(true)
  })
})
