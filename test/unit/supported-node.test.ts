// bin/run.js on a Node older than the package supports: one line naming the version and the
// fix, exit 1, nothing on stdout and no stack trace (Node 20 used to die in a dependency's
// module code). The real binary in a real process, its Node version faked by a preload
// (process.versions.node is configurable), since the suite runs on a supported Node.
import {spawnSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {MIN_NODE} from '../../bin/supported-node.js'
import {ROOT} from '../helpers/run.js'

function runAs(version: string, args: string[]): {code: number | null; stdout: string; stderr: string} {
  const preload = `data:text/javascript,Object.defineProperty(process.versions,'node',{value:'${version}'})`
  const r = spawnSync(process.execPath, ['--import', preload, 'bin/run.js', ...args], {cwd: ROOT, env: {...process.env, NO_COLOR: '1'}, encoding: 'utf8', timeout: 60_000})
  return {code: r.status, stdout: r.stdout, stderr: r.stderr}
}

describe('an unsupported Node', () => {
  for (const version of ['20.20.2', '18.20.8', '22.18.0']) {
    it(`refuses Node ${version} with one clear error, exit 1`, () => {
      for (const args of [['--version'], ['inject', 'app.yaml'], ['proxy']]) {
        const r = runAs(version, args)
        expect(r.code, args.join(' ')).toBe(1)
        expect(r.stdout).toBe('')
        expect(r.stderr).toMatch(new RegExp(`^Error: mesh needs Node 22\\.19 or newer .*this is Node ${version.replace(/\./g, '\\.')} `))
        expect(r.stderr).toMatch(/Install a supported Node/)
        expect(r.stderr).not.toMatch(/^\s+at /m)
        expect(r.stderr.trim().split('\n')).toHaveLength(2)
      }
    })
  }

  for (const version of ['22.19.0', '24.0.0', '26.1.0']) {
    it(`runs on Node ${version}`, () => {
      const r = runAs(version, ['--version'])
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/\d+\.\d+\.\d+/)
    })
  }

  it('refuses below the lower bound of package.json "engines"', () => {
    const engines = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {engines: {node: string}}).engines.node
    const lowest = /\^(\d+)\.(\d+)\.\d+/.exec(engines.split('||')[0].trim())
    expect(lowest && [Number(lowest[1]), Number(lowest[2])]).toEqual(MIN_NODE)
  })
})
