// The splicer's cases one by one (the property tests cover the mix): what stays byte for byte,
// where new parts go, and the documents it cannot splice, which are rewritten and reported.
import {readFileSync} from 'node:fs'
import {parseAllDocuments} from 'yaml'
import {describe, expect, it} from 'vitest'
import {defaultConfig} from '../../src/inject/config.js'
import {YAML_OPTIONS} from '../../src/inject/splice.js'
import {transformSources, type StreamOptions} from '../../src/inject/transform.js'
import {transformObject} from '../../src/inject/workloads.js'
import {ROOT} from '../helpers/run.js'
import {ANCHORS} from './golden-helpers.js'

const config = defaultConfig({trustAnchorsPEM: readFileSync(`${ROOT}/${ANCHORS}`, 'utf8')})
const opts = (mode: 'inject' | 'uninject', native = true): StreamOptions => ({mode, config, createdBy: 'mesh/cli test', native, annotateOnly: false, ingress: false, flagAnnotations: {}, output: 'yaml'})
const inject = (text: string, native = true) => transformSources([{name: 'a.yaml', text}], opts('inject', native))
const uninject = (text: string) => transformSources([{name: 'a.yaml', text}], opts('uninject'))
const values = (text: string) => parseAllDocuments(text, YAML_OPTIONS).map((d) => d.toJS())

const POD = (body: string) => `apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n${body}`

describe('splicing', () => {
  it('a new container goes above the comment lines of the one it precedes (--no-native-sidecar)', () => {
    const text = POD('  containers:\n  # the app\n  - name: app\n    image: app:1\n')
    const r = inject(text, false)
    expect(r.output).toMatch(/ {2}containers:\n {2}- name: mesh-proxy\n[\s\S]*\n {2}# the app\n {2}- name: app\n {4}image: app:1\n/)
    expect(uninject(r.output).output).toBe(text)
  })

  it('flow collections get and lose items with their commas, in flow style', () => {
    const text = POD('  containers: [{name: app, image: "app:1"}]   # one line\n')
    const r = inject(text, false)
    expect(r.output).toMatch(/\n {2}containers: \[\{\n +name: mesh-proxy,\n/)
    expect(r.output).toContain(', {name: app, image: "app:1"}]   # one line\n')
    expect(r.rewritten).toEqual([])
    expect(uninject(r.output).output).toBe(text)
  })

  it('a changed scalar keeps the comment after it and the spaces before that comment', () => {
    const text = POD('  containers:\n  - name: app\n    image: app:1\n').replace('  name: p\n', '  name: p\n  annotations:\n    mesh.dev/inject: enabled    # on purpose\n')
    const r = transformSources([{name: 'a.yaml', text}], {...opts('inject'), ingress: true})
    expect(r.output).toContain('    mesh.dev/inject: ingress    # on purpose\n')
  })

  it('CRLF in, CRLF out, also in the parts injection adds', () => {
    const text = POD('  containers:\n  - name: app\n    image: app:1\n').replace(/\n/g, '\r\n')
    const r = inject(text)
    expect(r.output.replace(/\r\n/g, '')).not.toContain('\n')
    expect(uninject(r.output).output).toBe(text)
  })

  it('a file without a final newline comes back without one', () => {
    const text = POD('  containers:\n  - name: app\n    image: app:1   # last line')
    const r = inject(text)
    expect(r.output.endsWith('\n')).toBe(false)
    expect(uninject(r.output).output).toBe(text)
  })

  it('an alias injection must change is replaced by a copy; the anchor and its other users stay', () => {
    const text = 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: &labels {app: web}\n  template:\n    metadata:\n      labels: *labels\n    spec:\n      containers:\n      - name: web\n        image: web:1\n'
    const r = inject(text)
    expect(r.rewritten).toEqual([])
    expect(r.output).toContain('    matchLabels: &labels {app: web}\n')
    const [v] = values(r.output) as {spec: {selector: {matchLabels: object}; template: {metadata: {labels: object}}}}[]
    expect(v!.spec.selector.matchLabels).toEqual({app: 'web'})
    expect(v!.spec.template.metadata.labels).toMatchObject({app: 'web', 'mesh.dev/control-plane-ns': 'mesh-system'})
    expect(values(uninject(r.output).output)).toEqual(values(text))
  })
})

describe('documents the splicer cannot express are rewritten, and the report says so', () => {
  it('an anchored map that injection changes while an alias uses it: rewritten whole, its comments still there', () => {
    const text = 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    metadata:\n      labels: &labels {app: web}  # shared\n    spec:\n      containers:\n      - name: web\n        image: web:1\n        env:\n        - name: LABELS\n          value: x\n  selector:\n    matchLabels: *labels\n'
    const r = inject(text)
    expect(r.rewritten).toEqual([{source: 'a.yaml', index: 1, commentsKept: true}])
    expect(r.output).toContain('# shared')
    const want = transformObject(values(text)[0], opts('inject'), [])
    expect(values(r.output)).toEqual([want])
  })

  it('a merge key in a map injection changes, with a comment inside: rewritten, the lost comment reported', () => {
    const text = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: &defaults\n    team: a\n  annotations:\n    <<: *defaults   # inherit\n    note: "1"\nspec:\n  containers:\n  - name: app   # kept\n    image: app:1\n'
    const r = inject(text)
    expect(values(r.output)).toEqual([transformObject(values(text)[0], opts('inject'), [])])
    expect(r.rewritten).toHaveLength(1)
    expect(r.rewritten[0]!.commentsKept).toBe(false)
  })

  it('the command reports it on stderr whatever --quiet says', async () => {
    const {runMesh} = await import('../helpers/run.js')
    const {mkdtempSync, writeFileSync, rmSync} = await import('node:fs')
    const {join} = await import('node:path')
    const {tmpdir} = await import('node:os')
    const dir = mkdtempSync(join(tmpdir(), 'mesh-splice-'))
    try {
      const file = join(dir, 'merge.yaml')
      writeFileSync(file, 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: &defaults\n    team: a\n  annotations:\n    <<: *defaults   # inherit\nspec:\n  containers:\n  - name: app\n    image: app:1\n')
      const r = await runMesh(['inject', '-q', '--ignore-cluster', '--identity-trust-anchors-file', ANCHORS, file])
      expect(r.exitCode).toBe(0)
      expect(r.stderr).toBe(`‼ ${file}, document 1: rewritten in full; some of its comments could not be kept\n`)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
