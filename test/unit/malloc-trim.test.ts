// The malloc_trim addon: freed malloc memory that free() alone leaves resident goes back to the
// kernel when the proxy trims. Measured in a child process (its own heap, with gc exposed).
import {execFileSync} from 'node:child_process'
import {beforeAll, describe, expect, it} from 'vitest'
import {mallocTrimSupport} from '../../src/proxy/net/malloc-trim.js'
import {requireNative} from '../helpers/needs.js'
import {ROOT} from '../helpers/run.js'

requireNative('test/unit/malloc-trim.test.ts', 'malloc_trim', 'the suite tests it')

beforeAll(() => {
  execFileSync('sh', [`${ROOT}scripts/build-native.sh`], {env: {...process.env, BUILD_NATIVE_REQUIRED: '1'}, stdio: 'pipe'})
})

// 3,000 malloc'd 16 KiB blocks (ArrayBuffer backing stores), each followed by a small block
// that stays alive so the freed space is in the middle of the heap, not at its top (which
// free() would give back by itself); then the big blocks are freed (gc) and RssAnon read before
// and after `trim` (none, or mallocTrim()).
const CHILD = `
import {readFileSync} from 'node:fs'
import {mallocTrim} from './src/proxy/net/malloc-trim.ts'
const anonKB = () => Number(/RssAnon:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1])
let big = [], keep = []
for (let i = 0; i < 3000; i++) {
  const b = new Uint8Array(16384); b.fill(1); big.push(b)
  keep.push(new Uint8Array(512).fill(1))
}
big = null
// (the child's own procedure, not a test waiting: turns of the event loop let V8 free what gc() released)
for (let i = 0; i < 4; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 50)) }
const before = anonKB()
const released = process.argv.includes('trim') ? mallocTrim() : false
const after = anonKB()
process.stdout.write(JSON.stringify({before, after, released, kept: keep.length}))
`

function run(trim: boolean): {before: number, after: number, released: boolean} {
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--expose-gc', '--input-type=module', '-e', CHILD, ...(trim ? ['trim'] : [])],
    {cwd: ROOT, env: {...process.env, MALLOC_ARENA_MAX: '2'}, encoding: 'utf8'})
  return JSON.parse(out) as {before: number, after: number, released: boolean}
}

describe('mallocTrim', () => {
  it('loads the native addon', () => {
    expect(mallocTrimSupport()).toEqual({available: true})
  })

  it('gives freed malloc memory back to the kernel (free alone does not)', () => {
    const untrimmed = run(false)
    expect(untrimmed.before - untrimmed.after).toBeLessThan(4 * 1024)
    const trimmed = run(true)
    expect(trimmed.released).toBe(true)
    // ~47 MB were freed; most of it leaves the resident set.
    expect(trimmed.before - trimmed.after).toBeGreaterThan(20 * 1024)
  })
})
