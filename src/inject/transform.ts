// The stream transform both commands run: parse every source first (a malformed one fails
// before anything is written), transform document by document, then render in input order.
// Pure: text in, text and reports out; the command does the I/O.
import {isJsonText, joinYaml, parseSource, renderJson, renderYamlDoc, type Source} from './stream.js'
import {transformObject, type TransformOptions} from './workloads.js'
import type {ResourceReport} from './report.js'

export type OutputFormat = 'yaml' | 'json'

export interface StreamOptions extends TransformOptions {
  /** Default: json when every source is JSON, else yaml. */
  output?: OutputFormat
}

export interface StreamResult {
  /** The transformed stream; empty when any resource was refused. */
  output: string
  format: OutputFormat
  reports: ResourceReport[]
  refused: ResourceReport[]
}

export function transformSources(sources: Source[], opts: StreamOptions): StreamResult {
  const parsed = sources.flatMap((s) => parseSource(s))
  const format: OutputFormat = opts.output ?? (sources.length > 0 && sources.every((s) => isJsonText(s.text)) ? 'json' : 'yaml')
  const reports: ResourceReport[] = []
  const results = parsed.map((d) => {
    const before = reports.length
    const value = transformObject(d.value, opts, reports)
    for (const r of reports.slice(before)) r.source = `${d.source}, document ${d.index}`
    return {d, value}
  })
  const refused = reports.filter((r) => r.status === 'refused')
  if (refused.length > 0) return {output: '', format, reports, refused}
  const output = format === 'json'
    ? (results.length === 0 ? '' : renderJson(results.map((r) => r.value)))
    : joinYaml(results.map(({d, value}) => renderYamlDoc(d, value)))
  return {output, format, reports, refused}
}
