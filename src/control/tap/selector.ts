// Kubernetes label selectors, matched in process (for grouping pods under bare kinds).
export interface LabelSelector {
  matchLabels?: Record<string, string>
  matchExpressions?: {key: string; operator: string; values?: string[]}[]
}

export function matches(selector: LabelSelector | Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false
  const sel: LabelSelector = 'matchLabels' in selector || 'matchExpressions' in selector ? (selector as LabelSelector) : {matchLabels: selector as Record<string, string>}
  const ml = Object.entries(sel.matchLabels ?? {})
  const me = sel.matchExpressions ?? []
  if (ml.length === 0 && me.length === 0) return false
  for (const [k, v] of ml) if (labels[k] !== v) return false
  for (const e of me) {
    const has = Object.hasOwn(labels, e.key)
    const v = labels[e.key]
    switch (e.operator) {
      case 'In':
        if (!has || !(e.values ?? []).includes(v)) return false
        break
      case 'NotIn':
        if (has && (e.values ?? []).includes(v)) return false
        break
      case 'Exists':
        if (!has) return false
        break
      case 'DoesNotExist':
        if (has) return false
        break
      default:
        return false
    }
  }
  return true
}

/** The `labelSelector` query string form of matchLabels (expressions are checked in process). */
export function selectorString(sel: LabelSelector | Record<string, string> | undefined): string {
  const ml = sel && ('matchLabels' in sel || 'matchExpressions' in sel) ? (sel as LabelSelector).matchLabels : (sel as Record<string, string> | undefined)
  return Object.entries(ml ?? {}).map(([k, v]) => `${k}=${v}`).join(',')
}
