// What `mesh authz` shows, as the tap server answers it (/v1/authz): the controller's policy for
// each pod of the workload (exactly what its proxy is sent), the namespace's refused policies,
// and who called the workload per its proxies' metrics. And the reading of an observed caller
// against the policy in force: allowed, denied, or "depends" (on the method, path, route or
// address, which the metrics do not carry).
import type {AuthzPolicy} from '../protocol/authz.js'
import {AuthzMatcher} from './evaluate.js'
import type {ObservedCaller, ObservedInbound} from './observed.js'

export interface AuthzPodReport {
  pod: string
  /** The policy the controller sends this pod's proxy; absent while the controller does not know the pod. */
  policy?: AuthzPolicy
  /** Why its proxy's metrics could not be read. */
  metricsError?: string
}

export interface AuthzReport {
  /** As asked: deploy/books. */
  resource: string
  namespace: string
  /** The workload as an AuthorizationPolicy target names it. */
  workload: {kind: string; name: string}
  pods: AuthzPodReport[]
  /** AuthorizationPolicies of the namespace the controller refuses: they apply nothing. */
  refused: Array<{name: string; generation: number; message: string}>
  observed: ObservedInbound
  /** Pods whose metrics were read. */
  scraped: number
}

/** `audit`: the audit-mode policies (or `default:audit`) that would deny the caller, were they enforced. */
export type Verdict = {verdict: 'allowed' | 'denied'; by: string; audit?: string[]} | {verdict: 'depends'; on: string}

/** How the policy in force treats an observed caller on each port it used (its requests' methods and paths unknown). */
export function verdictFor(policy: AuthzPolicy, caller: Pick<ObservedCaller, 'clientId'>, port: number): Verdict {
  const matcher = new AuthzMatcher(policy)
  const covering = policy.rules.filter((r) => r.target.kind === 'workload' || r.target.ports.includes(port))
  if (covering.some((r) => r.target.kind === 'route')) return {verdict: 'depends', on: 'the route each request selects'}
  const usesAddress = policy.default.policy === 'cluster-authenticated' || covering.some((r) => r.from.some((s) => s.networks))
  if (covering.some((r) => r.to.some((op) => op.methods || op.paths))) return {verdict: 'depends', on: 'each request\'s method and path'}
  // Two addresses outside anything a policy names: the metrics carry no client address.
  const a = matcher.decide(port, {identity: caller.clientId, ip: '192.0.2.1'})
  const b = matcher.decide(port, {identity: caller.clientId, ip: '2001:db8::1'})
  if (usesAddress || a.allow !== b.allow) {
    if (caller.clientId === undefined || usesAddress) return {verdict: 'depends', on: 'the client\'s address'}
  }
  return {verdict: a.allow ? 'allowed' : 'denied', by: a.policy, ...(a.audit.length > 0 ? {audit: a.audit} : {})}
}
