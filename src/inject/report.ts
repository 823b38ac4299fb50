// The per-resource report: what happened to each object, with warnings and (for --verbose)
// the checks that passed. Rendered on stderr after the output, one line per resource.

export type Status = 'injected' | 'uninjected' | 'annotated' | 'skipped' | 'refused'

export interface ResourceReport {
  /** lower-case kind (`deployment`), or `document` when the object has none. */
  kind: string
  name: string
  namespace?: string
  status: Status
  warnings: string[]
  refusals: string[]
  passed: string[]
  /** Where the object came from (file and document number), for refusals. */
  source?: string
}

export interface ReportLine {
  level: 'ok' | 'warn' | 'error' | 'info'
  text: string
}

export function newReport(kind: string, name: string, namespace?: string): ResourceReport {
  return {kind, name, namespace, status: 'skipped', warnings: [], refusals: [], passed: []}
}

export function label(r: ResourceReport): string {
  return `${r.kind} "${r.name}"`
}

export function renderReport(reports: ResourceReport[], opts: {verbose: boolean; mode: 'inject' | 'uninject'}): ReportLine[] {
  const lines: ReportLine[] = []
  for (const r of reports) {
    if (opts.verbose) for (const p of r.passed) lines.push({level: 'ok', text: `${label(r)}: ${p}`})
    for (const w of r.warnings) lines.push({level: 'warn', text: `${label(r)}: ${w}`})
    if (r.status === 'refused') {
      for (const reason of r.refusals) lines.push({level: 'error', text: `${label(r)} not ${opts.mode}ed: ${reason}${r.source ? ` (${r.source})` : ''}`})
    } else {
      lines.push({level: 'info', text: `${label(r)} ${r.status}`})
    }
  }
  if (!reports.some((r) => r.status !== 'skipped')) {
    lines.push({level: 'warn', text: opts.mode === 'inject'
      ? 'no injectable workload or namespace found in the input; the output is unchanged'
      : 'no injected workload found in the input; the output is unchanged'})
  }
  return lines
}
