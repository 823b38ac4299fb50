// fast-check generators of Kubernetes YAML streams as people write them: comments (with any
// number of spaces before them), blank lines, quoting styles, flow and block collections,
// 2- or 4-space indentation with and without indented sequences, anchors and aliases,
// several documents, comment-only and empty documents, `---` / `...` markers, a %YAML
// directive, CRLF, a BOM, with or without a final newline. Each stream comes with the text of
// every document the injection must leave alone, so tests can find it verbatim in the output.
import fc from 'fast-check'
import {FOREIGN_SIDECARS} from '../../src/inject/constants.js'

export interface Layout {
  indent: number
  /** `- item` indented under its key (true) or at the key's column (false). */
  seqIndented: boolean
}

export interface Stream {
  text: string
  /** Documents inject must not change (their text, as generated). */
  untouched: string[]
  /** How many workloads the stream holds. */
  workloads: number
}

// Words YAML 1.1 reads as something other than a string are left out of names: they are
// refused (validate.ts) rather than injected, which other tests cover.
const RESERVED = /^(y|n|yes|no|on|off|true|false|null|~)$/i
const word = fc.stringMatching(/^[a-z][a-z0-9]{0,7}$/).filter((w) => !RESERVED.test(w))
const dnsName = fc.tuple(word, fc.option(word, {nil: undefined})).map(([a, b]) => (b ? `${a}-${b}` : a))

/** A trailing comment: nothing, or `<spaces># text`. */
const trailing = fc.option(
  fc.tuple(fc.integer({min: 1, max: 5}), fc.constantFrom('x', 'the app', 'keep  this', 'état → ok', 'TODO(me): later', '#', 'a: b', '- not an item')),
  {nil: undefined, freq: 2},
).map((c) => (c ? `${' '.repeat(c[0])}# ${c[1]}` : ''))

/** A comment on its own line (at a given column), or nothing. */
const ownLine = fc.option(fc.constantFrom('# note', '#tight', '#   wide', '# commented: out', '# - name: old'), {nil: undefined, freq: 3})

/** A scalar as written: plain, 'single' or "double" quoted. */
function quoted(value: string): fc.Arbitrary<string> {
  return fc.constantFrom(value, `'${value}'`, `"${value}"`)
}

const pad = (n: number): string => ' '.repeat(n)

function seqCol(col: number, layout: Layout): number {
  return col + (layout.seqIndented ? layout.indent : 0)
}

/** The generated containers of a pod spec, at `col` (the column of `containers:`). */
function containerLines(names: string[], images: string[], extras: {env: boolean; args: boolean; comment: string; own?: string}[], col: number, layout: Layout, anchored: boolean): string[] {
  const dash = seqCol(col, layout)
  const out: string[] = []
  names.forEach((name, i) => {
    const x = extras[i]!
    if (x.own) out.push(pad(dash) + x.own)
    out.push(`${pad(dash)}- name: ${name}${x.comment}`)
    out.push(`${pad(dash + 2)}image: ${images[i]}`)
    if (x.args) out.push(`${pad(dash + 2)}args: [ --port,  "80" ]`)
    if (x.env) {
      if (anchored && i > 0) out.push(`${pad(dash + 2)}env: *env`)
      else {
        out.push(`${pad(dash + 2)}env:${anchored && i === 0 ? ' &env' : ''}`)
        const e = seqCol(dash + 2, layout)
        out.push(`${pad(e)}- name: MODE${x.comment}`, `${pad(e + 2)}value: "on"`)
      }
    }
  })
  return out
}

export const layoutArb: fc.Arbitrary<Layout> = fc.record({indent: fc.constantFrom(2, 4), seqIndented: fc.boolean()})

/** A workload document (lines without newlines) at the layout's indentation. */
export function workloadArb(layout: Layout): fc.Arbitrary<string[]> {
  const I = layout.indent
  return fc.record({
    kind: fc.constantFrom('Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob', 'Pod'),
    name: dnsName,
    namespace: fc.option(dnsName, {nil: undefined}),
    c: fc.array(trailing, {minLength: 12, maxLength: 12}),
    own: fc.array(ownLine, {minLength: 6, maxLength: 6}),
    flowLabels: fc.boolean(),
    templateMeta: fc.constantFrom('none', 'labels', 'labels+annotations'),
    containers: fc.array(dnsName, {minLength: 1, maxLength: 3}).map((n) => [...new Set(n)]).filter((n) => !n.some((x) => x.startsWith('mesh-') || x in FOREIGN_SIDECARS || x === 'setup')),
    images: fc.array(fc.constantFrom('app:1', '"app:2"', "'registry.local/app:3'"), {minLength: 3, maxLength: 3}),
    extras: fc.array(fc.record({env: fc.boolean(), args: fc.boolean(), comment: trailing, own: ownLine}), {minLength: 3, maxLength: 3}),
    anchored: fc.boolean(),
    flowContainers: fc.boolean(),
    initContainer: fc.boolean(),
    volumes: fc.boolean(),
    blank: fc.array(fc.boolean(), {minLength: 4, maxLength: 4}),
    quotedApp: quoted('web'),
  }).map((g) => {
    const L: string[] = []
    const own = (col: number, i: number): void => {
      if (g.own[i]) L.push(pad(col) + g.own[i])
    }
    own(0, 0)
    L.push(`apiVersion: ${g.kind === 'Pod' ? 'v1' : g.kind === 'Job' || g.kind === 'CronJob' ? 'batch/v1' : 'apps/v1'}${g.c[0]}`)
    L.push(`kind: ${g.kind}${g.c[1]}`)
    if (g.blank[0]) L.push('')
    L.push(`metadata:${g.c[2]}`)
    L.push(`${pad(I)}name: ${g.name}${g.c[3]}`)
    if (g.namespace) L.push(`${pad(I)}namespace: ${g.namespace}`)
    if (g.blank[1]) L.push('')
    // Where the pod template's metadata and spec sit.
    let col: number
    if (g.kind === 'Pod') col = 0
    else {
      L.push(`spec:${g.c[4]}`)
      own(I, 1)
      if (g.kind === 'CronJob') {
        L.push(`${pad(I)}schedule: "*/5 * * * *"`, `${pad(I)}jobTemplate:`, `${pad(2 * I)}spec:`, `${pad(3 * I)}template:${g.c[5]}`)
        col = 4 * I
      } else {
        if (g.kind !== 'Job') L.push(`${pad(I)}selector:`, `${pad(2 * I)}matchLabels: {app: ${g.quotedApp}}${g.c[6]}`)
        L.push(`${pad(I)}template:${g.c[5]}`)
        col = 2 * I
      }
    }
    if (g.templateMeta !== 'none' || g.kind === 'Pod') {
      if (g.kind !== 'Pod') L.push(`${pad(col)}metadata:${g.c[7]}`)
      const m = g.kind === 'Pod' ? I : col + I
      if (g.templateMeta !== 'none') {
        if (g.flowLabels) L.push(`${pad(m)}labels: {app: ${g.quotedApp}, tier: front}${g.c[8]}`)
        else L.push(`${pad(m)}labels:${g.c[8]}`, `${pad(m + I)}app: ${g.quotedApp}`, `${pad(m + I)}tier: front  # yes, front`)
      }
      if (g.templateMeta === 'labels+annotations') L.push(`${pad(m)}annotations:`, `${pad(m + I)}prometheus.io/scrape: "true"${g.c[9]}`)
    }
    if (g.blank[2]) L.push('')
    L.push(`${pad(col)}spec:${g.c[10]}`)
    const s = col + I
    own(s, 2)
    if (g.kind === 'Job' || g.kind === 'CronJob') L.push(`${pad(s)}restartPolicy: Never`)
    if (g.initContainer) L.push(`${pad(s)}initContainers:`, `${pad(seqCol(s, layout))}- name: setup`, `${pad(seqCol(s, layout) + 2)}image: busybox:1.36${g.c[11]}`)
    if (g.flowContainers) {
      // One line, or one container per line.
      const items = g.containers.map((c, i) => `{name: ${c}, image: ${g.images[i]}}`)
      if (g.blank[3]) L.push(`${pad(s)}containers: [${items.join(', ')}]${g.c[11]}`)
      else L.push(`${pad(s)}containers: [`, ...items.map((x, i) => `${pad(s + I)}${x}${i < items.length - 1 ? ',' : ''}`), `${pad(s)}]`)
    } else {
      L.push(`${pad(s)}containers:`)
      own(seqCol(s, layout), 3)
      L.push(...containerLines(g.containers, g.images, g.extras, s, layout, g.anchored && g.extras.slice(0, g.containers.length).every((x) => x.env)))
    }
    if (g.blank[3]) L.push('')
    if (g.volumes) L.push(`${pad(s)}volumes:`, `${pad(seqCol(s, layout))}- name: data`, `${pad(seqCol(s, layout) + 2)}emptyDir: {}`)
    own(s, 4)
    return L
  })
}

/** A document inject leaves alone: a Service, a ConfigMap with block scalars, a Secret, a CRD-ish object. */
export function otherArb(layout: Layout): fc.Arbitrary<string[]> {
  const I = layout.indent
  const S = seqCol(0, layout) + I
  return fc.oneof(
    fc.tuple(dnsName, trailing, trailing).map(([n, a, b]) => [
      'apiVersion: v1', 'kind: Service', 'metadata:', `${pad(I)}name: ${n}${a}`, 'spec:', `${pad(I)}ports:`, `${pad(S)}- port: 80${b}`, `${pad(S + 2)}targetPort: http`,
    ]),
    fc.tuple(dnsName, fc.constantFrom('|', '|-', '>', '|+', '|2')).map(([n, style]) => [
      'apiVersion: v1', 'kind: ConfigMap', 'metadata:', `${pad(I)}name: ${n}`, 'data:', `${pad(I)}app.conf: ${style}`, `${pad(2 * I)}key: value   # kept, not a comment`, `${pad(2 * I)}  indented: more`, '', `${pad(2 * I)}last: line`, `${pad(I)}on: yes`,
    ]),
    fc.tuple(dnsName).map(([n]) => ['apiVersion: v1', 'kind: Secret', 'metadata: {name: ' + n + '}', 'type: Opaque', 'stringData: {password: "hunter2"}']),
    fc.tuple(dnsName, trailing).map(([n, c]) => ['apiVersion: example.com/v1', 'kind: Widget', `metadata: {name: ${n}}${c}`, 'spec:', `${pad(I)}template:`, `${pad(2 * I)}spec: {containers: "not a pod: not checked"}`]),
    // A namespace is annotated by inject: not untouched, but generated here for the mix.
    fc.constant<string[]>(['# only comments here', '#  apiVersion: v1', '#  kind: Secret']),
  )
}

/** A whole stream: documents, separators, stream-level choices. */
export const streamArb: fc.Arbitrary<Stream> = layoutArb.chain((layout) =>
  fc.record({
    docs: fc.array(fc.oneof({weight: 3, arbitrary: workloadArb(layout).map((lines) => ({lines, workload: true}))}, {weight: 2, arbitrary: otherArb(layout).map((lines) => ({lines, workload: false}))}, {weight: 1, arbitrary: fc.constant({lines: [] as string[], workload: false})}), {minLength: 1, maxLength: 5}),
    separators: fc.array(fc.constantFrom('---', '--- # next', '...\n---', '---\n'), {minLength: 5, maxLength: 5}),
    start: fc.constantFrom('', '---\n', '%YAML 1.1\n---\n', '# header\n---\n'),
    crlf: fc.boolean(),
    bom: fc.boolean(),
    finalNewline: fc.boolean(),
    end: fc.constantFrom('', '\n---\n', '\n...\n', '\n# trailing notes\n'),
  }).map((g) => {
    const bodies = g.docs.map((d) => d.lines.join('\n'))
    let text: string = g.start
    bodies.forEach((b, i) => {
      if (i > 0) text += `\n${g.separators[i - 1]}\n`
      text += b
    })
    text += g.end
    if (g.finalNewline && !text.endsWith('\n')) text += '\n'
    if (!g.finalNewline) text = text.replace(/\n+$/, '')
    // Documents whose body is empty and a stream that ends up blank are fine: they pass through.
    const untouched = g.docs.filter((d) => !d.workload && d.lines.length > 0).map((d) => d.lines.join('\n'))
    const eol = g.crlf ? '\r\n' : '\n'
    const out = (g.bom ? '\uFEFF' : '') + text.replace(/\n/g, eol)
    return {text: out, untouched: untouched.map((u) => u.replace(/\n/g, eol)), workloads: g.docs.filter((d) => d.workload).length}
  }),
)
