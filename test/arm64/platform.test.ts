// The arm64 runtime and the cross-built addons: the emulated node is the official linux-arm64
// Node 24; each addon in the tree is an aarch64 shared object, refused by this machine's node,
// loaded by the arm64 one, and it works there.
import {execFileSync, spawnSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {ROOT} from '../helpers/run.js'
import {arm64, arm64Argv} from './arm64.js'

const ADDONS = ['original_dst', 'malloc_trim', 'code_pages']
const EM_AARCH64 = 183

function runArm64(script: string): string {
  const argv = arm64Argv(['-e', script])
  return execFileSync(argv[0], argv.slice(1), {encoding: 'utf8', timeout: 120_000})
}

describe('the arm64 runtime', () => {
  it('is the official Node of .nvmrc for linux/arm64', () => {
    const got = JSON.parse(runArm64('console.log(JSON.stringify({arch: process.arch, platform: process.platform, version: process.version}))')) as Record<string, string>
    expect(got).toEqual({arch: 'arm64', platform: 'linux', version: `v${readFileSync(join(ROOT, '.nvmrc'), 'utf8').trim()}`})
  })

  it('has the addons built for aarch64: this machine\'s node refuses them, the arm64 one loads and runs them', () => {
    const dir = join(arm64().tree, 'native/build')
    for (const name of ADDONS) {
      const elf = readFileSync(join(dir, `${name}.node`))
      expect(elf.subarray(0, 4).toString('latin1'), name).toBe('\x7fELF')
      expect(elf.readUInt16LE(18), `${name}: e_machine`).toBe(EM_AARCH64)
      const here = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(join(dir, `${name}.node`))})`], {encoding: 'utf8'})
      expect(here.status, name).not.toBe(0)
    }
    const out = runArm64(`
      const net = require('net')
      const dir = ${JSON.stringify(dir)}
      const od = require(dir + '/original_dst.node'), mt = require(dir + '/malloc_trim.node'), cp = require(dir + '/code_pages.node')
      const server = net.createServer((s) => {
        // A connection nobody redirected: no original destination.
        console.log(JSON.stringify({orig: od.originalDst(s._handle.fd), trim: typeof mt.mallocTrim(), dropped: cp.dropCodePages() > 0}))
        s.destroy(); server.close()
      }).listen(0, '127.0.0.1', () => net.connect(server.address().port, '127.0.0.1').on('error', () => {}))
    `)
    expect(JSON.parse(out)).toEqual({orig: null, trim: 'boolean', dropped: true})
  })
})
