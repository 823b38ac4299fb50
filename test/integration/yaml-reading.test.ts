// Differential: mesh reads YAML scalars as kubectl does. kubectl turns YAML into JSON with
// go-yaml (YAML 1.1); mesh parses with `yaml` in 1.1 mode plus the fixes in
// src/inject/splice.ts (kubernetesTags). For tricky and generated plain scalars, the value
// `kubectl apply --dry-run=client -o json` prints must be the value mesh reads; and
// `mesh inject` refuses what the API server refuses (a pod spec that is not one).
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import fc from 'fast-check'
import {parseDocument} from 'yaml'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {YAML_OPTIONS} from '../../src/inject/splice.js'
import {testCluster} from '../cluster/cluster.js'
import {spawnMesh} from '../helpers/run.js'

const cluster = testCluster()
let dir: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mesh-yaml-diff-'))
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

const TRICKY = [
  'e0', 'E5', '.e1', '.', '1e3', '1.5e-2', '-.5', '+1', '0644', '0x1F', '0o17', '0b101', '1_000', '1:30', '190:20:30',
  'yes', 'No', 'ON', 'off', 'y', 'n', 'true', 'False', '~', 'null', 'Null', '2024-01-01', '12:30', '1e', 'e', '-', '0.', '00', '+.inf', '.nan',
]

/** How kubectl reads a list of plain scalars: the ConfigMap's `data` as `kubectl apply --dry-run=client -o json` prints it. */
async function kubectlReads(scalars: string[]): Promise<unknown[]> {
  const file = join(dir, `s-${Math.random().toString(36).slice(2)}.yaml`)
  writeFileSync(file, `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: scalars\n  namespace: default\ndata:\n${scalars.map((s, i) => `  k${i}: ${s}\n`).join('')}`)
  const r = await cluster.kubectl(['apply', '--dry-run=client', '--validate=false', '-o', 'json', '-f', file], {allowFailure: true})
  if (r.code !== 0) {
    // One scalar kubectl cannot read (`-`, `.inf`) fails the whole document: ask one by one.
    if (scalars.length > 1) {
      const one: unknown[] = []
      for (const x of scalars) one.push(...(await kubectlReads([x])))
      return one
    }
    return [Symbol('kubectl refused')]
  }
  const data = (JSON.parse(r.stdout) as {data?: Record<string, unknown>}).data ?? {}
  return scalars.map((_, i) => data[`k${i}`] ?? null)
}

function meshReads(scalar: string): unknown {
  const v = parseDocument(`k: ${scalar}`, YAML_OPTIONS).toJS().k as unknown
  // JSON has no NaN or Infinity: kubectl cannot print them either.
  return typeof v === 'number' && !Number.isFinite(v) ? Symbol('not JSON') : v
}

describe('reading YAML as kubectl does', {timeout: 300_000}, () => {
  /** The scalars both read, and where they disagree. */
  async function compare(scalars: string[]): Promise<{compared: number; diffs: string[]}> {
    const theirs: unknown[] = []
    for (let i = 0; i < scalars.length; i += 25) theirs.push(...(await kubectlReads(scalars.slice(i, i + 25))))
    let compared = 0
    const diffs = scalars.flatMap((s, i) => {
      const ours = meshReads(s)
      const t = theirs[i]
      if (typeof t === 'symbol' || typeof ours === 'symbol') return []
      compared++
      return JSON.stringify(t) === JSON.stringify(ours) ? [] : [`${s}: kubectl ${JSON.stringify(t)}, mesh ${JSON.stringify(ours)}`]
    })
    return {compared, diffs}
  }

  it('tricky plain scalars', async () => {
    const r = await compare(TRICKY)
    expect(r.diffs).toEqual([])
    expect(r.compared).toBeGreaterThanOrEqual(TRICKY.length - 6)
  })

  it('generated plain scalars', async () => {
    const scalar = fc.stringMatching(/^[-+]?[0-9a-fA-FxXoObB._:eE]{1,8}$/)
    const samples = [...new Set(fc.sample(scalar, {numRuns: 300, seed: 7}))]
    const r = await compare(samples)
    expect(r.diffs).toEqual([])
    expect(r.compared).toBeGreaterThan(samples.length / 2)
  })

  it('a pod spec that is not one: the API server refuses it, and so does mesh inject, naming the field', async () => {
    const file = join(dir, 'bad.yaml')
    writeFileSync(file, 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: "not-a-list"\n')
    const server = await cluster.kubectl(['apply', '--dry-run=server', '-f', file], {allowFailure: true})
    expect(server.code).not.toBe(0)
    expect(server.stderr).toMatch(/containers/)
    const mesh = await spawnMesh(['inject', '--ignore-cluster', '--identity-trust-anchors-file', 'test/fixtures/inject/trust-anchors.pem', file], {compiled: true})
    expect(mesh.exitCode).toBe(1)
    expect(mesh.stdout).toBe('')
    expect(mesh.stderr).toContain(`${file}, document 1 (deployment "web"): spec.template.spec.containers is the string "not-a-list"; expected a list of containers`)
  })
})
