// Generated YAML streams as people write them (test/inject/generators.ts), through the library
// the commands use: uninject(inject(x)) == x byte for byte, inject is idempotent, the documents
// inject leaves alone come out verbatim, and the values are exactly the transform's. Then
// hostile inputs: whatever the bytes, a clear error (a MeshError) or an output, never a crash;
// and a few generated streams through the real binary, piped from one command to the other.
import {spawn} from 'node:child_process'
import {readFileSync} from 'node:fs'
import fc from 'fast-check'
import {parseAllDocuments} from 'yaml'
import {describe, expect, it} from 'vitest'
import {defaultConfig} from '../../src/inject/config.js'
import {decodeText} from '../../src/inject/inputs.js'
import {YAML_OPTIONS} from '../../src/inject/splice.js'
import {transformSources, type StreamOptions} from '../../src/inject/transform.js'
import {transformObject} from '../../src/inject/workloads.js'
import {MeshError} from '../../src/lib/errors.js'
import {ROOT} from '../helpers/run.js'
import {streamArb} from './generators.js'
import {ANCHORS} from './golden-helpers.js'

const config = defaultConfig({trustAnchorsPEM: readFileSync(`${ROOT}/${ANCHORS}`, 'utf8')})

function options(mode: 'inject' | 'uninject', native = true): StreamOptions {
  return {mode, config, createdBy: 'mesh/cli test', native, annotateOnly: false, ingress: false, flagAnnotations: {}, output: 'yaml'}
}

function run(text: string, mode: 'inject' | 'uninject', native = true) {
  const r = transformSources([{name: 'gen.yaml', text}], options(mode, native))
  expect(r.refused.map((x) => x.refusals)).toEqual([])
  return r
}

/** The values of a stream as Kubernetes reads it (YAML 1.1: no timestamps, floats with digits), empty documents included. */
function values(text: string): unknown[] {
  return parseAllDocuments(text.replace(/^\uFEFF/, ''), YAML_OPTIONS).map((d) => d.toJS())
}

describe('generated streams', {timeout: 300_000}, () => {
  it('uninject(inject(x)) == x byte for byte; inject(inject(x)) == inject(x); untouched documents verbatim; nothing rewritten', () => {
    fc.assert(
      fc.property(streamArb, fc.boolean(), (s, native) => {
        const injected = run(s.text, 'inject', native)
        expect(injected.rewritten).toEqual([])
        for (const doc of s.untouched) expect(injected.output).toContain(doc)
        if (s.workloads === 0) expect(injected.output).toBe(s.text)
        expect(run(injected.output, 'inject', native).output).toBe(injected.output)
        const back = run(injected.output, 'uninject')
        expect(back.rewritten).toEqual([])
        expect(back.output).toBe(s.text)
      }),
      {numRuns: 300},
    )
  })

  it('the output holds exactly the transformed values, document for document', () => {
    fc.assert(
      fc.property(streamArb, (s) => {
        const before = values(s.text)
        const after = values(run(s.text, 'inject').output)
        expect(after).toHaveLength(before.length)
        const want = before.map((v) => (v === null ? null : transformObject(v, options('inject'), [])))
        expect(after).toEqual(want)
        const injectedDocs = after.filter((v) => JSON.stringify(v ?? null).includes('"mesh-proxy"'))
        expect(injectedDocs).toHaveLength(s.workloads)
      }),
      {numRuns: 200},
    )
  })

  it('JSON in, JSON out: one document keeps its layout both ways', () => {
    const pod = fc.record({
      name: fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/),
      indent: fc.constantFrom(0, 2, 4, '\t'),
      labels: fc.dictionary(fc.stringMatching(/^[a-z]{1,6}$/), fc.string({maxLength: 8}), {maxKeys: 3}),
      containers: fc.uniqueArray(fc.stringMatching(/^[a-z]{1,8}$/), {minLength: 1, maxLength: 3}),
      finalNewline: fc.boolean(),
    }).map((g) => {
      const obj = {apiVersion: 'v1', kind: 'Pod', metadata: {name: g.name, ...(Object.keys(g.labels).length ? {labels: g.labels} : {})}, spec: {containers: g.containers.map((c) => ({name: c, image: `${c}:1`}))}}
      return JSON.stringify(obj, null, g.indent) + (g.finalNewline ? '\n' : '')
    })
    fc.assert(
      fc.property(pod, (text) => {
        const opts = {...options('inject'), output: undefined}
        const injected = transformSources([{name: 'pod.json', text}], opts)
        expect(JSON.parse(injected.output)).toEqual(transformObject(JSON.parse(text), opts, []))
        const back = transformSources([{name: 'pod.json', text: injected.output}], {...options('uninject'), output: undefined})
        expect(back.output).toBe(text)
      }),
      {numRuns: 100},
    )
  })
})

describe('hostile input: a clear error or an output, never a crash', {timeout: 300_000}, () => {
  /** A MeshError (what the command prints as `Error: ...`) or a result; anything else is a crash. */
  function survives(text: string): void {
    for (const mode of ['inject', 'uninject'] as const) {
      try {
        const r = transformSources([{name: 'x.yaml', text}], options(mode))
        if (r.refused.length === 0 && !r.reports.some((x) => x.status !== 'skipped')) expect(r.output).toBe(text)
      } catch (error) {
        if (!(error instanceof MeshError)) throw error
        expect(error.message).toMatch(/^x\.yaml/)
      }
    }
  }

  it('streams with characters inserted, deleted and repeated at random', () => {
    const mutated = fc.tuple(streamArb, fc.array(fc.tuple(fc.nat(), fc.constantFrom('', ' ', '\t', '\n', ':', '-', '#', '[', '{', '&a', '*a', '"', "'", '|', '? ', '!!str', '\u00e9', '\u0000', '---\n')), {minLength: 1, maxLength: 6}))
      .map(([s, cuts]) => cuts.reduce((t, [at, ins]) => {
        const i = at % (t.length + 1)
        return ins === '' ? t.slice(0, i) + t.slice(i + 1) : t.slice(0, i) + ins + t.slice(i)
      }, s.text))
    fc.assert(fc.property(mutated, survives), {numRuns: 300})
  })

  it('arbitrary text', () => {
    fc.assert(fc.property(fc.string({unit: 'grapheme', maxLength: 200}), survives), {numRuns: 300})
  })

  it('arbitrary bytes: not UTF-8 is refused naming the line, UTF-8 is read as is', () => {
    fc.assert(
      fc.property(fc.uint8Array({maxLength: 200}), (bytes) => {
        const buf = Buffer.from(bytes)
        let text: string
        try {
          text = decodeText(buf, 'x.yaml')
        } catch (error) {
          expect(error).toBeInstanceOf(MeshError)
          expect((error as Error).message).toMatch(/^x\.yaml(: line \d+)? (is|holds)/)
          return
        }
        expect(Buffer.from(text, 'utf8').equals(buf)).toBe(true)
        survives(text)
      }),
      {numRuns: 300},
    )
  })

  it('named worst cases', () => {
    const lol = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for (let i = 1; i < 10; i++) lol.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`)
    const cases: Record<string, string> = {
      empty: '',
      'only comments': '# a\n#b\n\n# c',
      'only markers': '---\n---\n...\n',
      'billion laughs': lol.join('\n') + '\n',
      'deep flow': 'a: ' + '['.repeat(50_000) + ']'.repeat(50_000) + '\n',
      'deep block': Array.from({length: 3000}, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n') + '\n',
      'deep JSON': '{"kind":"Pod","spec":{"containers":[{"name":"a","x":' + '['.repeat(50_000) + ']'.repeat(50_000) + '}]}}',
      'huge scalar': `apiVersion: v1\nkind: ConfigMap\ndata:\n  k: ${'x'.repeat(5_000_000)}\n`,
      'many documents': Array.from({length: 5000}, (_, i) => `kind: ConfigMap\nmetadata: {name: c${i}}`).join('\n---\n'),
      'containers not a list': 'kind: Pod\nmetadata: {name: p}\nspec:\n  containers: "not-a-list"\n',
      'template not a map': 'kind: Deployment\nmetadata: {name: d}\nspec:\n  template: [1, 2]\n',
      'a container without a name': 'kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - image: x\n',
      'annotation values not strings': 'kind: Pod\nmetadata:\n  name: p\n  annotations: {port: 8080}\nspec:\n  containers: [{name: a}]\n',
    }
    for (const [name, text] of Object.entries(cases)) {
      try {
        survives(text)
      } catch (error) {
        throw new Error(`${name}: ${(error as Error).message}`, {cause: error})
      }
    }
  })
})

/** Runs the real binary with `stdin`; resolves with stdout as bytes and the exit code. */
function mesh(args: string[], stdin: Buffer): Promise<{stdout: Buffer; stderr: string; code: number | null}> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/run.js', ...args], {cwd: ROOT, env: {...process.env, NO_COLOR: '1'}})
    const out: Buffer[] = []
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => out.push(d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({stdout: Buffer.concat(out), stderr, code}))
    child.stdin.end(stdin)
  })
}

describe('the real binary', {timeout: 300_000}, () => {
  it('mesh inject - | mesh uninject - gives back the bytes of generated streams', async () => {
    const samples = fc.sample(streamArb, {numRuns: 8, seed: 20})
    for (const s of samples) {
      const input = Buffer.from(s.text, 'utf8')
      const injected = await mesh(['inject', '-q', '--ignore-cluster', '--identity-trust-anchors-file', ANCHORS, '-'], input)
      expect(injected.stderr).toBe('')
      expect(injected.code).toBe(0)
      const back = await mesh(['uninject', '-q', '-'], injected.stdout)
      expect(back.code).toBe(0)
      expect(back.stdout.equals(input)).toBe(true)
    }
  })
})
