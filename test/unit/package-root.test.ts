// packageRoot finds mesh's package.json from the three places modules run from: src/ (tsx),
// dist/ (tsc) and the sidecar's bundle dist/proxy/sidecar.cjs, whose depths differ; and says so
// when there is none above.
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'
import {afterAll, describe, expect, it} from 'vitest'
import {packageRoot} from '../../src/lib/package-root.js'
import {ROOT} from '../helpers/run.js'

const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, {recursive: true, force: true})
})

describe('packageRoot', () => {
  it('is the directory of package.json, from any depth below it', () => {
    const root = pathToFileURL(ROOT).href
    for (const file of ['src/lib/version.ts', 'src/proxy/net/addon.ts', 'dist/proxy/sidecar.cjs', 'dist/proxy/net/addon.js']) {
      expect(packageRoot(pathToFileURL(join(ROOT, file)).href).href).toBe(root)
    }
  })

  it('stops at the nearest package.json, and fails naming the module when there is none', () => {
    const top = mkdtempSync(join(tmpdir(), 'mesh-pkg-root-'))
    dirs.push(top)
    mkdirSync(join(top, 'pkg/dist/proxy'), {recursive: true})
    writeFileSync(join(top, 'pkg/package.json'), '{}')
    expect(packageRoot(pathToFileURL(join(top, 'pkg/dist/proxy/sidecar.cjs')).href).href).toBe(pathToFileURL(join(top, 'pkg/')).href)
    // (tmpdir has no package.json above it on a sane machine; / is where the walk ends)
    mkdirSync(join(top, 'loose'))
    expect(() => packageRoot(pathToFileURL(join(top, 'loose/x.js')).href)).toThrow(/no package\.json above .*loose\/x\.js/)
  })
})
