import {readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'
import {renderCommandReference, spliceReference} from '../../scripts/readme.js'
import {ROOT} from '../helpers/run.js'

describe('README', () => {
  it('has an up-to-date command reference (run `npm run readme` to refresh it)', async () => {
    const readme = readFileSync(`${ROOT}README.md`, 'utf8')
    expect(spliceReference(readme, await renderCommandReference())).toBe(readme)
  })

  it('documents every command', async () => {
    const readme = readFileSync(`${ROOT}README.md`, 'utf8')
    const reference = await renderCommandReference()
    for (const m of reference.matchAll(/^### `(mesh [^`]+)`/gm)) expect(readme).toContain(m[1])
    expect(reference).toContain('### `mesh version`')
  })

  it('has the Quick start with exactly two commands and a Tests section .ci/run executes', () => {
    const readme = readFileSync(`${ROOT}README.md`, 'utf8')
    const quick = /## Quick start\n[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)
    expect(quick, 'Quick start section with a sh block').not.toBeNull()
    expect(quick![1].trim().split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'))).toHaveLength(2)
    const ci = readFileSync(`${ROOT}.ci/run`, 'utf8')
    expect(ci).toContain('readme-test-commands')
  })
})
