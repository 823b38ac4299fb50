// Does a metric series (or a tap event's destination) point at a resource? By dst_pod when the
// resource's pods are known, else by the dst_<kind> and dst_namespace labels.
import type {ResolvedGroup} from '../control/tap/types.js'

export type LabelMatcher = (labels: Record<string, string>) => boolean

export function dstMatcher(group: ResolvedGroup): LabelMatcher {
  const pods = new Set(group.pods.map((p) => `${p.namespace}/${p.name}`))
  const {kind, name, namespace} = group.resource
  return (labels) => {
    const ns = labels.dst_namespace ?? labels.namespace
    const pod = labels.dst_pod ?? labels.pod
    if (pod && ns && pods.has(`${ns}/${pod}`)) return true
    if (ns !== namespace) return false
    if (kind === 'namespace') return true
    const v = labels[`dst_${kind}`] ?? labels[kind]
    return v === name
  }
}

