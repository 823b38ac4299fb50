// `mesh inject` and `mesh install --ignore-cluster` on arm64 write the same bytes as on this
// machine: every inject fixture set (test/fixtures/inject, the goldens test/inject checks) and
// the install goldens (test/install/golden), run as the real binary on the emulated arm64 node
// and on this machine's node, stdout, stderr and exit code compared byte for byte, and with the
// goldens. Under emulation each process start costs seconds of CPU, so every case runs in one
// emulated process through oclif's run() (as the in-process suites run commands), and a few as
// the real binary on arm64 too.
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {beforeAll, describe, expect, it} from 'vitest'
import {denormalize, loadFixtures} from '../inject/golden-helpers.js'
import {GOLDEN, identityArgs} from '../install/helpers.js'
import {ROOT, type RunResult} from '../helpers/run.js'
import {arm64, arm64Argv, meshArm64, meshX64} from './arm64.js'

interface Case {
  name: string
  args: string[]
  /** What the output must also equal (the golden files the x64 suites hold it to). */
  golden?: {stdout: string, report?: string}
}

const inject: Case[] = loadFixtures().map((f) => ({
  name: `inject ${f.name}`,
  args: [...f.args, f.inputRel],
  golden: {stdout: denormalize(readFileSync(f.goldenPath, 'utf8')), report: denormalize(readFileSync(f.reportPath, 'utf8'))},
}))

const installArgs = ['install', '--ignore-cluster', ...identityArgs()]
const install: Case[] = [
  {name: 'install (defaults)', args: installArgs, golden: {stdout: readFileSync(join(GOLDEN, 'default.yaml'), 'utf8')}},
  {name: 'install -o json', args: [...installArgs, '-o', 'json'], golden: {stdout: readFileSync(join(GOLDEN, 'default.json'), 'utf8')}},
  {name: 'install --ha, registry, -f, --set', args: [...installArgs, '--ha', '--registry', 'registry.example.com/mesh/', '--image-tag', '9.9.9',
    '-f', join('test/install/fixtures', 'values.yaml'), '--set', 'proxy.logLevel=debug'], golden: {stdout: readFileSync(join(GOLDEN, 'ha.yaml'), 'utf8')}},
  {name: 'install with a bad --set (exit 2)', args: [...installArgs, '--set', 'nope']},
]

/** Every case in one emulated process (run-many.mjs: oclif's run(), as the in-process suites do). */
async function arm64InProcess(cases: Case[]): Promise<Map<string, RunResult>> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-arm64-cases-'))
  try {
    writeFileSync(join(dir, 'cases.json'), JSON.stringify(cases.map((c) => ({name: c.name, args: c.args}))))
    const argv = arm64Argv([join(ROOT, 'test/arm64/run-many.mjs'), arm64().tree, join(dir, 'cases.json'), join(dir, 'out.json')])
    execFileSync(argv[0], argv.slice(1), {cwd: ROOT, env: {...process.env, NO_COLOR: '1'}, stdio: ['ignore', 'ignore', 'inherit'], timeout: 600_000})
    const out = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')) as (RunResult & {name: string})[]
    return new Map(out.map(({name, ...r}) => [name, r]))
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

/** `run` for each case, `width` at a time. */
async function each(cases: Case[], run: (args: string[]) => Promise<RunResult>, width = 2): Promise<Map<string, RunResult>> {
  const out = new Map<string, RunResult>()
  let next = 0
  await Promise.all(Array.from({length: width}, async () => {
    while (next < cases.length) {
      const c = cases[next++]
      out.set(c.name, await run(c.args))
    }
  }))
  return out
}

const all = [...inject, ...install]
// The real binary on arm64 (bin/run.js, its fast path and oclif) for a few: a success and a
// refusal of each command. Every case runs in process on arm64 and as the real binary here.
const binaryCases = [inject.find((c) => c.golden!.report!.endsWith('exit 0\n'))!, inject.find((c) => !c.golden!.report!.endsWith('exit 0\n'))!, install[0], install[3]]

describe('mesh on arm64 writes what it writes on amd64', () => {
  let here: Map<string, RunResult>
  let arm: Map<string, RunResult>
  beforeAll(async () => {
    ;[here, arm] = await Promise.all([each(all, (args) => meshX64(args)), arm64InProcess(all)])
  })

  it('has the fixture sets to compare', () => {
    expect(inject.length).toBeGreaterThanOrEqual(25)
    expect(binaryCases.every(Boolean)).toBe(true)
  })

  it('mesh inject: every fixture set, byte for byte, and the goldens', () => {
    for (const c of inject) {
      expect(arm.get(c.name), c.name).toEqual(here.get(c.name))
      expect(here.get(c.name)!.stdout, `${c.name}: stdout against the golden`).toBe(c.golden!.stdout)
      expect(`${here.get(c.name)!.stderr}exit ${here.get(c.name)!.exitCode}\n`, `${c.name}: stderr and exit against the report`).toBe(c.golden!.report)
    }
  })

  it('mesh install --ignore-cluster: the goldens, and a usage error', () => {
    for (const c of install) {
      expect(arm.get(c.name), c.name).toEqual(here.get(c.name))
      if (c.golden) {
        expect(here.get(c.name)!.exitCode, `${c.name}: ${here.get(c.name)!.stderr}`).toBe(0)
        expect(here.get(c.name)!.stdout, `${c.name}: stdout against the golden`).toBe(c.golden.stdout)
      }
    }
    const bad = arm.get('install with a bad --set (exit 2)')!
    expect(bad.exitCode).toBe(2)
    expect(bad.stdout).toBe('')
    expect(bad.stderr).toMatch(/^Error: .*--set/)
  })

  it('the real binary on arm64 writes the same for a success and a refusal of each', async () => {
    const binary = await each(binaryCases, (args) => meshArm64(args))
    for (const c of binaryCases) expect(binary.get(c.name), c.name).toEqual(here.get(c.name))
  })
})
