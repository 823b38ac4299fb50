// bin/fast.js answers `mesh version`, `mesh --version` and the root help without oclif: its
// answers must be oclif's, byte for byte, and anything it does not know must go to oclif.
import {execFile} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'
import {promisify} from 'node:util'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {fastPath, type FastIO} from '../../bin/fast.js'
import {ROOT, runMesh, spawnMesh} from '../helpers/run.js'

function fake(isTTY = false, columns?: number): {out: string} & NonNullable<FastIO['stdout']> {
  const s = {out: '', isTTY, columns, write(x: string) { s.out += x; return true }}
  return s
}

describe('fast path: version', () => {
  const forms = [['version', '--client'], ['version', '--short', '--client'], ['version', '-o', 'json', '--client'],
    ['version', '--client', '-o=json'], ['version', '--output', 'table', '--short', '--client'], ['version', '--client', '--output=json'], ['--version']]
  for (const argv of forms) {
    it(`mesh ${argv.join(' ')} prints what oclif prints`, async () => {
      const out = fake()
      expect(fastPath(argv, {stdout: out, env: {}})).toBe(true)
      const r = await runMesh(argv)
      expect(r.exitCode).toBe(0)
      expect(out.out).toBe(r.stdout)
    })
  }

  // without --client, `mesh version` asks the cluster for the server version: oclif's command
  const others = [['version'], ['version', '--short'], ['version', '-o', 'json'], ['version', '--bogus', '--client'], ['version', '--bogus'], ['version', '-o', 'xml'], ['version', '-o'], ['version', '--verbose'],
    ['version', 'extra'], ['inject', 'x.yaml'], ['-h', 'inject'], ['--help', 'inject'], ['help', 'inject']]
  for (const argv of others) {
    it(`leaves mesh ${argv.join(' ')} to oclif`, () => {
      const out = fake()
      expect(fastPath(argv, {stdout: out, env: {}})).toBe(false)
      expect(out.out).toBe('')
    })
  }

  it('is off with MESH_NO_FAST_PATH=1', () => {
    expect(fastPath(['version'], {stdout: fake(), env: {MESH_NO_FAST_PATH: '1'}})).toBe(false)
  })
})

describe('fast path: root help', () => {
  let dir: string
  let helpDir: URL
  beforeAll(async () => {
    // The cache, rendered from the sources exactly as `npm run build` renders it from dist/.
    dir = mkdtempSync(join(tmpdir(), 'mesh-help-'))
    helpDir = pathToFileURL(dir + '/')
    await promisify(execFile)(process.execPath, ['scripts/help-cache.mjs', 'bin/dev.js', dir], {cwd: ROOT})
  }, 120_000)
  afterAll(() => rmSync(dir, {recursive: true, force: true}))

  it('prints the help oclif prints when piped, for `mesh`, `mesh --help`, `mesh -h` and `mesh help`', async () => {
    const oclif = await spawnMesh(['--help'], {env: {OCLIF_COLUMNS: ''}})
    expect(oclif.exitCode).toBe(0)
    expect(oclif.stdout).toContain('COMMANDS')
    // -h is help, in oclif too (package.json: additionalHelpFlags).
    expect(await spawnMesh(['-h'], {env: {OCLIF_COLUMNS: '', MESH_NO_FAST_PATH: '1'}})).toEqual(oclif)
    for (const argv of [[], ['--help'], ['-h'], ['help']]) {
      const out = fake()
      expect(fastPath(argv, {stdout: out, env: {}, helpDir})).toBe(true)
      expect(out.out).toBe(oclif.stdout)
    }
  }, 60_000)

  it('on a terminal of 80 columns or more prints oclif\'s styled help, plain with NO_COLOR or TERM=dumb', () => {
    const tty = fake(true, 132)
    expect(fastPath(['--help'], {stdout: tty, env: {}, helpDir})).toBe(true)
    expect(tty.out).toContain('\x1b[1mCOMMANDS\x1b[22m')
    for (const env of [{NO_COLOR: '1'}, {TERM: 'dumb'}]) {
      const plain = fake(true, 100)
      expect(fastPath(['--help'], {stdout: plain, env, helpDir})).toBe(true)
      expect(plain.out).not.toContain('\x1b[')
      expect(plain.out).toContain('COMMANDS')
    }
  })

  it('leaves the help to oclif on narrow terminals, with FORCE_COLOR or another OCLIF_COLUMNS, and without a cache', () => {
    expect(fastPath(['--help'], {stdout: fake(true, 60), env: {}, helpDir})).toBe(false)
    expect(fastPath(['--help'], {stdout: fake(), env: {FORCE_COLOR: '1'}, helpDir})).toBe(false)
    expect(fastPath(['--help'], {stdout: fake(true, 120), env: {OCLIF_COLUMNS: '120'}, helpDir})).toBe(false)
    expect(fastPath(['--help'], {stdout: fake(), env: {}, helpDir: pathToFileURL(join(dir, 'missing') + '/')})).toBe(false)
  })
})
