// The templating rules: whole placeholders keep their type or drop their key, inner ones
// interpolate, unknown ones are errors (never an empty string).
import {describe, expect, it} from 'vitest'
import {fill} from '../../src/install/template.js'
import {spawnMesh} from '../helpers/run.js'
import {identityArgs} from './helpers.js'

const ctx = {values: {n: 3, on: true, name: 'web', obj: {a: [1]}, unset: undefined}, labels: {k: 'mesh.dev/x'}}

describe('template fill', () => {
  it('replaces whole placeholders with typed values and interpolates inner ones, keys included', () => {
    const out = fill({replicas: '${values.n}', ha: '${values.on}', spec: '${values.obj}', image: 'reg/${values.name}:1', labels: {'${labels.k}': '${values.name}'}}, ctx, 't.yaml')
    expect(out).toEqual({replicas: 3, ha: true, spec: {a: [1]}, image: 'reg/web:1', labels: {'mesh.dev/x': 'web'}})
  })
  it('drops keys and list items whose whole placeholder is undefined', () => {
    expect(fill({a: '${values.unset}', b: ['${values.unset}', 'x'], c: 1}, ctx, 't.yaml')).toEqual({b: ['x'], c: 1})
  })
  it('refuses unknown placeholders and objects inside strings', () => {
    expect(() => fill({a: '${nope.x}'}, ctx, 't.yaml')).toThrow(/t.yaml: unknown placeholder \$\{nope.x\}/)
    expect(() => fill({a: 'x-${values.obj}'}, ctx, 't.yaml')).toThrow(/must be a string, a number or a boolean/)
    expect(() => fill({a: 'x-${values.unset}'}, ctx, 't.yaml')).toThrow(/must be a string/)
  })
})

describe('the real binary', () => {
  it('mesh install --ignore-cluster -o json writes one parseable List and hints on stderr', async () => {
    const r = await spawnMesh(['install', '--ignore-cluster', ...identityArgs(), '-o', 'json'], {timeoutMs: 60_000})
    expect(r.exitCode).toBe(0)
    expect(JSON.parse(r.stdout).items.length).toBeGreaterThan(10)
    expect(r.stderr).toContain('mesh check')
  })
  it('a bad --set exits 2 with nothing on stdout and no stack trace', async () => {
    const r = await spawnMesh(['install', '--ignore-cluster', '--set', 'nope=1'])
    expect(r.exitCode).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('unknown key "nope"')
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })
})
