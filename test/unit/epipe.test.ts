// A closed pipe ends a command quietly with exit 0: `mesh inject big.yaml | head -1` (and
// uninject) used to exit 13, an unsettled top-level await (oclif's flush waited for a 'drain'
// that never comes once the reader is gone). A real pipe whose reader closes it, as head does.
import {spawn} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {ANCHORS} from '../inject/golden-helpers.js'
import {ROOT} from '../helpers/run.js'

let dir: string
let big: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mesh-epipe-'))
  big = join(dir, 'big.yaml')
  // ~2,000 injected documents: megabytes of output, far more than a pipe holds.
  const doc = (i: number): string => `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web${i}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app  # the app\n        image: app:1\n`
  writeFileSync(big, Array.from({length: 2000}, (_, i) => doc(i)).join('---\n'))
})

afterAll(() => rmSync(dir, {recursive: true, force: true}))

/**
 * Runs the real binary with its stdout on a pipe, reads the first chunk and closes the read
 * end, as `head -1` does; returns what was read, the exit code and stderr.
 */
function closeAfterFirstChunk(args: string[]): Promise<{first: string; code: number | null; signal: NodeJS.Signals | null; stderr: string}> {
  const child = spawn(process.execPath, ['bin/run.js', ...args], {cwd: ROOT, env: {...process.env, NO_COLOR: '1'}, stdio: ['ignore', 'pipe', 'pipe']})
  let stderr = ''
  let first = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  child.stdout.once('data', (d: Buffer) => {
    first = d.toString('utf8')
    child.stdout.destroy()
  })
  // Hang guard: a process that never ends is killed and fails the test (signal SIGKILL).
  const guard = setTimeout(() => child.kill('SIGKILL'), 120_000)
  return new Promise((resolve) => child.on('exit', (code, signal) => {
    clearTimeout(guard)
    resolve({first, code, signal, stderr})
  }))
}

describe('a reader that goes away after the first chunk', {timeout: 150_000}, () => {
  it('mesh inject big.yaml | head -1: exit 0, no error', async () => {
    const r = await closeAfterFirstChunk(['inject', '-q', '--ignore-cluster', '--identity-trust-anchors-file', ANCHORS, big])
    expect(r.first).toMatch(/^apiVersion: apps\/v1\n/)
    expect({code: r.code, signal: r.signal, stderr: r.stderr}).toEqual({code: 0, signal: null, stderr: ''})
  })

  it('mesh uninject big.yaml | head -1: exit 0, no error', async () => {
    const r = await closeAfterFirstChunk(['uninject', '-q', big])
    expect(r.first).toMatch(/^apiVersion: apps\/v1\n/)
    expect({code: r.code, signal: r.signal, stderr: r.stderr}).toEqual({code: 0, signal: null, stderr: ''})
  })

  it('with the report on: the report may still reach stderr, and the exit code is 0', async () => {
    const r = await closeAfterFirstChunk(['inject', '--ignore-cluster', '--identity-trust-anchors-file', ANCHORS, big])
    expect(r.code).toBe(0)
    expect(r.stderr).not.toMatch(/Error|EPIPE/)
  })
})
