// The CLI as a sidecar's uid runs it: a uid with no passwd entry and no SHELL (oclif asks
// os.userInfo() for the shell, which throws for such a uid). Switching uid needs root.
import {execFile} from 'node:child_process'
import {describe, expect, it} from 'vitest'
import {meshVersion} from '../../src/lib/version.js'
import {requireRoot} from '../helpers/needs.js'
import {ROOT} from '../helpers/run.js'

requireRoot('test/unit/cli-uid.test.ts', 'it runs mesh under another uid (54321)')

describe('mesh under a uid with no passwd entry', () => {
  it('runs with no passwd entry and no SHELL, as a sidecar does', async () => {
    const env: NodeJS.ProcessEnv = {...process.env, NO_COLOR: '1'}
    delete env.SHELL
    const r = await new Promise<{code: number | null; stdout: string; stderr: string}>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', '--no-warnings', 'bin/dev.js', 'version', '--short', '--client'], {cwd: ROOT, env, uid: 54321, gid: 54321}, (err, stdout, stderr) => {
        resolve({code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr})
      })
    })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(`${meshVersion()}\n`)
  })
})
