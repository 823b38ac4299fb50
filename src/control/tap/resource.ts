// Target resources as users type them: `deploy/web`, `po/web-1`, `ns/shop`, `sts/db`, `ds/x`,
// `job/x`, `svc/web`, long forms (`deployment/web`, `pods/web-1`), or a bare kind (`deploy`,
// meaning every deployment in the namespace). One parser for the tap server and the CLI.
import {UsageError} from '../../lib/errors.js'

export type ResourceKind = 'deployment' | 'pod' | 'namespace' | 'statefulset' | 'daemonset' | 'job' | 'service' | 'replicaset'

export interface ResourceRef {
  kind: ResourceKind
  /** Absent for a bare kind: every resource of that kind in scope. */
  name?: string
}

const ALIASES: Record<string, ResourceKind> = {
  deploy: 'deployment', deployment: 'deployment', deployments: 'deployment',
  po: 'pod', pod: 'pod', pods: 'pod',
  ns: 'namespace', namespace: 'namespace', namespaces: 'namespace',
  sts: 'statefulset', statefulset: 'statefulset', statefulsets: 'statefulset',
  ds: 'daemonset', daemonset: 'daemonset', daemonsets: 'daemonset',
  job: 'job', jobs: 'job',
  svc: 'service', service: 'service', services: 'service',
  rs: 'replicaset', replicaset: 'replicaset', replicasets: 'replicaset',
}

/** Kubernetes object names: DNS-1123 subdomain, bounded. */
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/

export const RESOURCE_EXAMPLES = 'deploy/web, po/web-1, ns/shop, sts/db, ds/agent, job/migrate, svc/web, or a bare kind such as deploy'

export function parseResource(input: string, what = 'resource'): ResourceRef {
  const text = input.trim()
  const parts = text.split('/')
  if (text === '' || parts.length > 2) {
    throw new UsageError(`invalid ${what} ${JSON.stringify(input.slice(0, 80))}: expected KIND/NAME or KIND`, {
      suggestions: [`Use one of: ${RESOURCE_EXAMPLES}.`],
    })
  }
  const kind = ALIASES[parts[0].toLowerCase()]
  if (!kind) {
    throw new UsageError(`unknown resource kind ${JSON.stringify(parts[0].slice(0, 40))} in ${what} ${JSON.stringify(input.slice(0, 80))}`, {
      suggestions: [`Use one of the kinds deploy, po, ns, sts, ds, job, svc, rs (or their long forms), e.g. ${RESOURCE_EXAMPLES}.`],
    })
  }
  if (parts.length === 1) return {kind}
  const name = parts[1]
  if (!NAME.test(name)) {
    throw new UsageError(`invalid name ${JSON.stringify(name.slice(0, 80))} in ${what} ${JSON.stringify(input.slice(0, 80))}: expected a Kubernetes object name (lower case letters, digits, - and .)`, {
      suggestions: [`Use one of: ${RESOURCE_EXAMPLES}.`],
    })
  }
  return {kind, name}
}

export function formatResource(ref: ResourceRef): string {
  return ref.name === undefined ? ref.kind : `${ref.kind}/${ref.name}`
}

/** The short form used in tables and event lines: deploy/web, po/web-1. */
const SHORT: Record<ResourceKind, string> = {
  deployment: 'deploy', pod: 'po', namespace: 'ns', statefulset: 'sts', daemonset: 'ds', job: 'job', service: 'svc', replicaset: 'rs',
}

export function shortKind(kind: ResourceKind): string {
  return SHORT[kind]
}

/** The metric label that names a workload of this kind (Linkerd's convention). */
export function metricLabelFor(kind: ResourceKind): string {
  return kind
}
