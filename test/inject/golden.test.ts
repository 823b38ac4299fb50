// Every fixture set runs through the real command in process: stdout against the golden
// (semantically, then as text, so comments and formatting count), stderr + exit code
// against the report.
import {beforeAll, describe, expect, it} from 'vitest'
import {runMesh} from '../helpers/run.js'
import {loadFixtures, readGolden, values} from './golden-helpers.js'

beforeAll(() => {
  process.env.NO_COLOR = '1'
})

const fixtures = loadFixtures()

describe('golden fixture sets', () => {
  it('has at least 25 sets', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(25)
  })

  for (const f of fixtures) {
    it(`${f.name}: mesh ${f.args.join(' ')}`, async () => {
      const r = await runMesh([...f.args, f.inputRel])
      const report = `${r.stderr}exit ${r.exitCode}\n`
      const goldenReport = readGolden(f.reportPath, report)
      const golden = readGolden(f.goldenPath, r.stdout)
      if (r.exitCode !== 0) expect(r.stdout).toBe('')
      expect(values(r.stdout)).toEqual(values(golden))
      expect(r.stdout).toBe(golden)
      expect(report).toBe(goldenReport)
    })
  }
})
