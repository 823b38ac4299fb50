// Generated observations for `mesh authz suggest` (src/authz/suggest.ts): callers as the tap
// server's report holds them (one per identity), with the ports and routes the proxies counted.
// Shared by test/authz/suggest.test.ts and the cluster suite (kubectl apply --dry-run=server).
import fc from 'fast-check'
import type {ObservedCaller} from '../../src/authz/observed.js'
import type {AuthzReport} from '../../src/authz/report.js'
import {identityName} from '../../src/protocol/proxy-env.js'

export const NS = 'shop'

const label = fc.stringMatching(/^[a-z]([-a-z0-9]{0,14}[a-z0-9])?$/)
const saName = fc.oneof(label, fc.tuple(label, label).map(([a, b]) => `${a}.${b}`))
/** Identities of ServiceAccounts in `ns` (the workload's), in other namespaces, or of another mesh. */
const identity = (own: string) => fc.oneof(
  {weight: 4, arbitrary: fc.tuple(saName, fc.oneof(fc.constant(own), label)).map(([sa, ns]) => identityName(sa, ns))},
  // Another control plane or trust domain: written as an exact identity.
  {weight: 1, arbitrary: fc.tuple(saName, label, label).map(([sa, ns, td]) => `${sa}.${ns}.serviceaccount.identity.other.${td}.example`)},
)
// Often the same few ports, so that many callers share a port set (one policy, many ServiceAccounts).
export const port = fc.oneof(fc.constantFrom(80, 8080, 9090), fc.integer({min: 1, max: 65535}))

export function caller(clientId: string | undefined, ports: number[], routes: ObservedCaller['routes'], requests: number): ObservedCaller {
  return {...(clientId ? {clientId} : {noTlsReason: 'no_tls_from_remote'}), ports: [...new Set(ports)].sort((a, b) => a - b), requests, connections: ports.length, routes}
}

const routes = fc.array(fc.record({kind: fc.constantFrom('HTTPRoute', 'GRPCRoute'), name: label, requests: fc.integer({min: 1, max: 1000})}), {maxLength: 3})
  .map((rs) => rs.filter((r, i) => rs.findIndex((x) => x.kind === r.kind && x.name === r.name) === i))

export function report(callers: ObservedCaller[], workload = 'books', ns = NS): AuthzReport {
  return {resource: `deployment/${workload}`, namespace: ns, workload: {kind: 'Deployment', name: workload}, pods: [{pod: `${workload}-0`}], refused: [], observed: {callers}, scraped: 1}
}

/** Callers as addObserved leaves them: one per identity. */
export const callers = (max: number, maxPorts: number, withRoutes: boolean, ns = NS) =>
  fc.uniqueArray(fc.record({id: fc.oneof(identity(ns), fc.integer({min: 0, max: 5000}).map((i) => identityName(`sa${i}`, ns))), ports: fc.oneof(fc.array(port, {maxLength: 3}), fc.array(port, {maxLength: maxPorts, size: 'max'})), routes: withRoutes ? routes : fc.constant([] as ObservedCaller['routes']), requests: fc.integer({min: 0, max: 1_000_000})}), {maxLength: max, size: 'max', selector: (c) => c.id})
    .map((cs) => cs.map((c) => caller(c.id, c.ports, c.routes, c.requests)))

