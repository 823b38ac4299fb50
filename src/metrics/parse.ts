// A parser of the Prometheus text format 0.0.4, for the tap server and `mesh stat` (which read
// proxies' /metrics) and for tests. Bound the input before calling: the parser holds it whole.
// Aggregation and histogram_quantile live in query.ts.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'

export interface Sample {
  /** The sample's own name, e.g. `response_latency_ms_bucket`. */
  name: string
  labels: Record<string, string>
  value: number
  timestampMs?: number
}

export interface MetricFamily {
  name: string
  help?: string
  type: MetricType
  samples: Sample[]
}

export class MetricsParseError extends Error {
  readonly code = 'MESH_METRICS_PARSE'
  constructor(readonly line: number, message: string) {
    super(`metrics text, line ${line}: ${message}`)
  }
}

const TYPES = new Set<string>(['counter', 'gauge', 'histogram', 'summary', 'untyped'])
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/

/** Parses a whole exposition into families, keyed by family name, in order of appearance. */
export function parseMetrics(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>()
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim()
    if (line === '') continue
    const n = i + 1
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(line)
      if (!m) continue // a plain comment
      const [, kind, name, rest = ''] = m
      if (!NAME.test(name) || NAME.exec(name)![0] !== name) throw new MetricsParseError(n, `invalid metric name ${JSON.stringify(name)}`)
      const fam = familyFor(families, name)
      if (kind === 'HELP') fam.help = unescapeHelp(rest)
      else {
        if (!TYPES.has(rest)) throw new MetricsParseError(n, `unknown type ${JSON.stringify(rest)} for ${name}`)
        if (fam.samples.length > 0) throw new MetricsParseError(n, `TYPE for ${name} after its samples`)
        fam.type = rest as MetricType
      }
      continue
    }
    const sample = parseSample(line, n)
    familyFor(families, familyName(families, sample.name)).samples.push(sample)
  }
  return families
}

function familyFor(families: Map<string, MetricFamily>, name: string): MetricFamily {
  let f = families.get(name)
  if (!f) {
    f = {name, type: 'untyped', samples: []}
    families.set(name, f)
  }
  return f
}

/** `x_bucket`, `x_sum`, `x_count` belong to family x when x is a histogram or summary. */
function familyName(families: Map<string, MetricFamily>, sampleName: string): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (sampleName.endsWith(suffix)) {
      const base = families.get(sampleName.slice(0, -suffix.length))
      if (base && (base.type === 'histogram' || (base.type === 'summary' && suffix !== '_bucket'))) return base.name
    }
  }
  return sampleName
}

function parseSample(line: string, n: number): Sample {
  const nameMatch = NAME.exec(line)
  if (!nameMatch) throw new MetricsParseError(n, `expected a metric name at ${JSON.stringify(line.slice(0, 40))}`)
  const name = nameMatch[0]
  let pos = name.length
  const labels: Record<string, string> = {}
  if (line[pos] === '{') {
    pos++
    for (;;) {
      while (line[pos] === ' ') pos++
      if (line[pos] === '}') {
        pos++
        break
      }
      const lm = LABEL.exec(line.slice(pos))
      if (!lm) throw new MetricsParseError(n, `expected a label name in ${name} at column ${pos + 1}`)
      pos += lm[0].length
      if (line[pos] !== '=' || line[pos + 1] !== '"') throw new MetricsParseError(n, `expected ="..." after label ${lm[0]}`)
      pos += 2
      let value = ''
      for (;;) {
        const c = line[pos]
        if (c === undefined) throw new MetricsParseError(n, `unterminated value of label ${lm[0]}`)
        pos++
        if (c === '"') break
        if (c === '\\') {
          const e = line[pos++]
          value += e === 'n' ? '\n' : e === '\\' ? '\\' : e === '"' ? '"' : `\\${e ?? ''}`
        } else value += c
      }
      if (Object.hasOwn(labels, lm[0])) throw new MetricsParseError(n, `duplicate label ${lm[0]} in ${name}`)
      labels[lm[0]] = value
      while (line[pos] === ' ') pos++
      if (line[pos] === ',') pos++
      else if (line[pos] !== '}') throw new MetricsParseError(n, `expected , or } after label ${lm[0]}`)
    }
  }
  const rest = line.slice(pos).trim().split(/\s+/)
  if (rest.length < 1 || rest.length > 2 || rest[0] === '') throw new MetricsParseError(n, `expected "value [timestamp]" after ${name}`)
  const value = parseValue(rest[0])
  if (value === undefined) throw new MetricsParseError(n, `invalid value ${JSON.stringify(rest[0])} for ${name}`)
  const sample: Sample = {name, labels, value}
  if (rest.length === 2) {
    if (!/^-?\d+$/.test(rest[1])) throw new MetricsParseError(n, `invalid timestamp ${JSON.stringify(rest[1])} for ${name}`)
    sample.timestampMs = Number(rest[1])
  }
  return sample
}

export function parseValue(s: string): number | undefined {
  switch (s) {
    case '+Inf':
    case 'Inf':
      return Infinity
    case '-Inf':
      return -Infinity
    case 'NaN':
      return NaN
  }
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return undefined
  return Number(s)
}

function unescapeHelp(s: string): string {
  return s.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === '\\' ? '\\' : `\\${c}`))
}
