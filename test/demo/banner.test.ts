// The demo banner's commands are written as the user can type them (src/demo/summary.ts):
// `mesh` only when the PATH's `mesh` is this very binary, else the path the demo was started
// with and how to get `mesh` (npm link); README's quick start shows the same steps.
import {mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {invocation, nextSteps} from '../../src/demo/summary.js'
import {ROOT} from '../helpers/run.js'

const dir = mkdtempSync(path.join(tmpdir(), 'mesh-banner-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))
const entry = path.join(ROOT, 'bin/run.js')

function binDir(name: string, target: string): string {
  const d = path.join(dir, name)
  mkdirSync(d)
  symlinkSync(target, path.join(d, 'mesh'))
  return d
}

describe('the demo banner\'s commands', () => {
  it('say `mesh` when the PATH\'s mesh is this binary (npm link makes such a link)', () => {
    const linked = binDir('linked', entry)
    expect(invocation(entry, {PATH: `/nonexistent:${linked}`}, ROOT)).toEqual({command: 'mesh'})
  })

  it('without mesh on the PATH: the path as typed from here (./bin/run.js), and how to get mesh', () => {
    const how = invocation(entry, {PATH: '/nonexistent'}, ROOT)
    expect(how.command).toBe('./bin/run.js')
    expect(how.hint).toBe(`\`mesh\` is not on your PATH: run \`npm link\` in ${ROOT.replace(/\/$/, '')} once to put it there (or type ./bin/run.js for mesh, as below)`)
    // From a directory outside the clone: the full path.
    expect(invocation(entry, {PATH: '/nonexistent'}, dir).command).toBe(entry)
  })

  it('another mesh on the PATH is named, and not used', () => {
    const other = path.join(dir, 'other-mesh')
    writeFileSync(other, '#!/bin/sh\n', {mode: 0o755})
    const how = invocation(entry, {PATH: binDir('other', other)}, ROOT)
    expect(how.command).toBe('./bin/run.js')
    expect(how.hint).toContain(`the \`mesh\` on your PATH (${other}) is another install`)
  })

  it('README\'s quick start shows exactly the steps the banner prints in a clone', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
    const block = /<!-- demo-next-steps -->\n```\n([\s\S]*?)\n```\n<!-- \/demo-next-steps -->/.exec(readme)
    expect(block?.[1]).toBe(nextSteps('./bin/run.js').join('\n'))
  })
})
