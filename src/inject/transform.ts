// The stream transform both commands run: parse every source first (a malformed one fails
// before anything is written), transform document by document, then render in input order.
// Pure: text in, text and reports out; the command does the I/O.
import {isJsonText, joinYaml, parseStream, renderJson, renderJsonSource, renderYamlSource, type ParsedDoc, type Rewritten, type Source} from './stream.js'
import {InputError} from '../lib/errors.js'
import {PodSpecError} from './validate.js'
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
  /** Documents written anew instead of spliced (the report says so). */
  rewritten: Rewritten[]
}

/** transformObject, with a malformed object named by file, document, object and field. */
function transformChecked(d: ParsedDoc, opts: TransformOptions, reports: ResourceReport[]): unknown {
  try {
    return transformObject(d.value, opts, reports)
  } catch (error) {
    if (!(error instanceof PodSpecError)) throw error
    const where = `${d.source}, document ${d.index}${error.subject ? ` (${error.subject})` : ''}`
    throw new InputError(`${where}: ${error.field} ${error.problem}`, {
      code: error.code,
      suggestions: [`Fix ${error.field} in ${d.source}; \`kubectl apply --dry-run=server -f ${d.source}\` shows what the API server makes of it.`],
      cause: error,
    })
  }
}

export function transformSources(sources: Source[], opts: StreamOptions): StreamResult {
  const parsed = sources.map((s) => parseStream(s))
  const format: OutputFormat = opts.output ?? (sources.length > 0 && sources.every((s) => isJsonText(s.text)) ? 'json' : 'yaml')
  const reports: ResourceReport[] = []
  const values = parsed.map((p) => p.docs.map((d) => {
    const before = reports.length
    const value = transformChecked(d, opts, reports)
    for (const r of reports.slice(before)) r.source = `${d.source}, document ${d.index}`
    return value
  }))
  const refused = reports.filter((r) => r.status === 'refused')
  if (refused.length > 0) return {output: '', format, reports, refused, rewritten: []}
  const rewritten: Rewritten[] = []
  let output: string
  if (format === 'json') {
    const all = values.flat()
    const single = parsed.length === 1 && parsed[0]!.json && all.length === 1
    output = all.length === 0 ? '' : single ? renderJsonSource(parsed[0]!, all[0]) : renderJson(all)
  } else {
    output = joinYaml(parsed.map((p, i) => renderYamlSource(p, values[i]!, rewritten)))
  }
  return {output, format, reports, refused, rewritten}
}
