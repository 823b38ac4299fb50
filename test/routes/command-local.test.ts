// `mesh routes svc/<name>` where there is no API server (a running demo or local controller):
// the routes, their conditions and the rules in precedence order come from the control plane's
// own state through its tap server (/v1/routes), the same state the routes streams compile, on a
// real local-mode controller. An edit of the registry file shows on the next call.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import type {RoutesReport} from '../../src/routes/command.js'
import {eventually} from '../helpers/eventually.js'
import {runMesh} from '../helpers/run.js'
import {withEnv} from '../tap/harness.js'
import {backend, NS, startRoutePlane, svcPort, type RoutePlane} from '../stat/route-plane.js'

let plane: RoutePlane
let restoreEnv: () => void

const splitRoute = (v2: number) => ({
  kind: 'HTTPRoute',
  metadata: {name: 'books-split', namespace: NS},
  spec: {parentRefs: [svcPort('books')], rules: [{matches: [{path: {type: 'PathPrefix', value: '/api'}}], timeouts: {request: '1s'}, backendRefs: [backend('books', 100 - v2), backend('books-v2', v2)]}]},
})
const exactRoute = {kind: 'HTTPRoute', metadata: {name: 'books-exact', namespace: NS}, spec: {parentRefs: [svcPort('books')], rules: [{matches: [{path: {type: 'Exact', value: '/api/one'}}]}]}}

beforeAll(async () => {
  plane = await startRoutePlane(['books', 'books-v2'], [splitRoute(10), exactRoute])
  restoreEnv = withEnv({...plane.env, KUBECONFIG: '/nonexistent/kubeconfig'})
}, 60_000)

afterAll(async () => {
  restoreEnv?.()
  await plane?.close()
})

async function report(): Promise<RoutesReport> {
  const r = await runMesh(['routes', 'svc/books', '-o', 'json'])
  expect(r.exitCode, r.stderr).toBe(0)
  return JSON.parse(r.stdout) as RoutesReport
}

describe('mesh routes in local mode (the control plane\'s own view)', () => {
  it('-o json: the routes with their conditions and the policy proxies get, in precedence order', async () => {
    const rep = await report()
    expect(rep.service).toEqual({namespace: NS, name: 'books', ports: [8080]})
    expect(rep.missingCrds).toEqual([])
    expect(rep.routes.map((r) => [r.kind, r.name, r.compiled, r.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`)])).toEqual([
      ['HTTPRoute', 'books-exact', true, ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs']],
      ['HTTPRoute', 'books-split', true, ['Accepted=True/Accepted', 'ResolvedRefs=True/ResolvedRefs']],
    ])
    const p = rep.policies[0]!
    expect(p.authority).toBe(`books.${NS}.svc.cluster.local:8080`)
    // Exact before PathPrefix, whatever the file's order.
    expect(p.http.map((e) => p.rules[e.rule]!.route.name)).toEqual(['books-exact', 'books-split'])
  })

  it('the table: routes with ACCEPTED and RESOLVED, then the rules with backends, weights and timeouts', async () => {
    const r = await runMesh(['routes', 'svc/books'])
    expect(r.exitCode, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^KIND\s+NAME\s+GEN\s+ACCEPTED\s+RESOLVED\s+MESSAGE$/m)
    expect(r.stdout).toMatch(/^HTTPRoute\s+books-split\s+\d+\s+yes \(Accepted\)\s+yes \(ResolvedRefs\)/m)
    expect(r.stdout).toMatch(/^2\s+\/api\/\*\s+http books-split#0\s+books:8080 90%, books-v2:8080 10%\s+request 1s\s+-$/m)
  })

  it('an edit of the registry file shows on the next call (90/10 to 0/100)', async () => {
    plane.setRoutes([splitRoute(100), exactRoute])
    const weights = await eventually('the edit in mesh routes', async () => {
      const p = (await report()).policies[0]!
      const rule = p.rules.find((x) => x.route.name === 'books-split')!
      const w = rule.backends.map((b) => b.weight)
      return w[0] === 0 ? w : undefined
    })
    expect(weights).toEqual([0, 100])
  })

  it('a Service the control plane does not know: exit 1 naming it; a target that is not svc/<name>: exit 2', async () => {
    const r = await runMesh(['routes', 'svc/nope'])
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toContain('service nope not found in namespace shop')
    const bad = await runMesh(['routes', 'deploy/books'])
    expect(bad.exitCode).toBe(2)
  })
})
